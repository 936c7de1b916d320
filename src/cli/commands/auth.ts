import { Code, ConnectError } from "@connectrpc/connect";
import { AuthService } from "../../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionSchema, SessionService } from "../../../gen/warden/session/v1/session_service_pb.js";
import { stringValue } from "../args.js";
import type { CommandSpec } from "../command.js";
import { CliError, UsageError } from "../errors.js";
import { jsonOf, timeText } from "../output.js";
import { profilePath, withoutSession, writeProfile, type Profile } from "../profile.js";
import { isoOf } from "../session.js";

/** The factors a code typed at the prompt can answer (a phone code needs an SMS sent first). */
const TYPED_FACTORS = ["totp", "recovery_code"];

const login: CommandSpec = {
  words: ["login"],
  summary: "sign in with email and password (and a TOTP code when asked); keeps the session in the profile",
  options: { email: { type: "string", value: "EMAIL", help: "the account (asked otherwise)" } },
  async run(ctx) {
    const connection = await ctx.connection();
    const previous = await ctx.profile();
    const email = stringValue(ctx, "email") ?? ((await ctx.prompt.line("Email:")).trim() || previous?.email);
    if (!email) throw new UsageError("an email is needed (--email)");
    const password = await ctx.prompt.secret("Password:");

    const auth = connection.client(AuthService);
    const first = await auth.login({ email, password });
    let signedIn: Pick<typeof first, "accessToken" | "refreshToken" | "sessionId" | "expiresAt" | "user"> = first;
    if (first.mfaRequired) {
      if (!first.mfaMethods.some((m) => TYPED_FACTORS.includes(m)))
        throw new CliError(
          `this account's second factor (${first.mfaMethods.join(", ")}) cannot be entered here; add an authenticator app (TOTP)`,
          "MFA_REQUIRED",
        );
      const code = (await ctx.prompt.line("TOTP code:")).trim();
      signedIn = await auth.verifyMFA({ challengeId: first.challengeId, code });
    }

    const profile: Profile = {
      server: connection.server,
      caFile: connection.caFile,
      email: signedIn.user?.email ?? email,
      userId: signedIn.user?.id,
      sessionId: signedIn.sessionId,
      accessToken: signedIn.accessToken,
      refreshToken: signedIn.refreshToken,
      expiresAt: isoOf(signedIn.expiresAt),
    };
    await writeProfile(ctx.env, profile);
    if (ctx.out.json)
      ctx.out.data({ server: profile.server, email: profile.email, userId: profile.userId, sessionId: profile.sessionId, mfa: first.mfaRequired });
    else ctx.out.line(`Logged in to ${profile.server} as ${profile.email}${first.mfaRequired ? " (with a second factor)" : ""}.`);
  },
};

const logout: CommandSpec = {
  words: ["logout"],
  summary: "end the session on the server and forget its tokens",
  async run(ctx) {
    const stored = await ctx.profile();
    if (!stored?.accessToken) {
      if (ctx.out.json) ctx.out.data({ loggedOut: false });
      else ctx.out.line("Not logged in.");
      return;
    }
    const session = await ctx.signedIn();
    try {
      await session.client(AuthService).logout({});
    } catch (err) {
      // Refused credentials mean the session is over already; anything else is worth telling.
      if (!(err instanceof ConnectError && err.code === Code.Unauthenticated)) {
        await writeProfile(ctx.env, withoutSession(session.profile));
        throw err;
      }
    }
    await writeProfile(ctx.env, withoutSession(session.profile));
    if (ctx.out.json) ctx.out.data({ loggedOut: true, server: session.server });
    else ctx.out.line(`Logged out of ${session.server}.`);
  },
};

const status: CommandSpec = {
  words: ["status"],
  summary: "who the stored session is (checked with the server)",
  async run(ctx) {
    const session = await ctx.signedIn();
    const r = await session.client(SessionService).validateSession({});
    if (!r.valid) throw new CliError("the stored session is no longer valid; run `warden login`", "UNAUTHENTICATED");
    const p = session.profile;
    if (ctx.out.json) {
      ctx.out.data({ server: session.server, email: p.email, userId: r.userId, session: r.session ? jsonOf(SessionSchema, r.session) : null });
      return;
    }
    ctx.out.fields([
      ["Server", session.server],
      ["User", `${p.email ?? "-"} (${r.userId})`],
      ["Session", r.session?.id ?? "-"],
      ["Signed in", `${timeText(r.session?.createTime)} (${r.session?.authMethod || "-"})`],
      ["Session ends", timeText(r.session?.expireTime)],
      ["Profile", profilePath(ctx.env)],
    ]);
  },
};

export const authCommands = [login, logout, status];
