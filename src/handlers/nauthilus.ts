import { randomUUID } from "node:crypto";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AuthDecision, type AuthResponseSchema, type AuthService as NauthilusAuth } from "../../gen/nauthilus/auth/v1/auth_pb.js";
import type { MailAuth, MailDecision } from "../domain/backchannel/mail-auth.js";
import { pickLanguage, statusMessage, type Language, type StatusKind } from "../domain/backchannel/status-messages.js";
import { backchannelCallerOf, metaOf } from "./call-context.js";

/** `backend` in every answer: Warden's own user store, outside the numbers Nauthilus gives its backends. */
export const WARDEN_BACKEND = 100;

export interface NauthilusOptions {
  /** The longest an Authenticate may take before it answers TEMPFAIL. */
  timeoutMs: number;
  defaultLanguage: Language;
  forceDefaultLanguage: boolean;
  /** The largest answer ListAccounts may build. */
  maxMessageBytes: number;
}

/** The published nauthilus.auth.v1.AuthService: users' outcomes are decisions in the answer; callers' failures are errors. */
export function nauthilusHandlers(mail: MailAuth, opts: NauthilusOptions): ServiceImpl<typeof NauthilusAuth> {
  const languageOf = (ctx: HandlerContext): Language => {
    const language = pickLanguage(ctx.requestHeader.get("accept-language"), { defaultLanguage: opts.defaultLanguage, force: opts.forceDefaultLanguage });
    ctx.responseHeader.set("content-language", language);
    return language;
  };
  return {
    async authenticate(req, ctx) {
      const language = languageOf(ctx);
      // A fresh id per decision: returned as `session` and written to the audit log with it.
      const session = randomUUID();
      const client = { clientIp: req.clientIp, protocol: req.protocol, userAgent: req.userAgent || metaOf(ctx).userAgent, requestId: session };
      const abandoned = new AbortController();
      const decision = await withinTime(
        mail.authenticate(req.username, req.password, client, { caller: backchannelCallerOf(ctx), abandoned: abandoned.signal }),
        opts.timeoutMs,
        abandoned,
      );
      return answer(decision, session, (kind) => statusMessage(kind, language, opts.defaultLanguage));
    },
    async listAccounts(req, ctx) {
      const session = randomUUID();
      const accounts = await mail.listAccounts(backchannelCallerOf(ctx), opts.maxMessageBytes - 64, {
        clientIp: req.clientIp || metaOf(ctx).clientIp,
        protocol: req.protocol,
        userAgent: req.userAgent,
        requestId: session,
      });
      return { accounts, session };
    },
  };
}

function answer(d: MailDecision, session: string, text: (kind: StatusKind) => string): MessageInitShape<typeof AuthResponseSchema> {
  const base = { session, backend: WARDEN_BACKEND };
  switch (d.decision) {
    case "ok":
      return {
        ...base,
        ok: true,
        decision: AuthDecision.OK,
        accountField: "account",
        // Names the attribute a TOTP secret would be in; Warden never hands the secret out.
        totpSecretField: d.hasTotp ? "totp_secret" : "",
        attributes: Object.fromEntries(Object.entries(d.attributes).map(([k, values]) => [k, { values }])),
        statusMessage: text("ok"),
      };
    case "fail":
      return { ...base, ok: false, decision: AuthDecision.FAIL, statusMessage: text(d.status) };
    case "tempfail":
      return { ...base, ok: false, decision: AuthDecision.TEMPFAIL, statusMessage: text(d.status), error: d.error };
  }
}

/** The decision, or TEMPFAIL once the backchannel's deadline passes (a hung database, say); `abandoned` then aborts. */
async function withinTime(decision: Promise<MailDecision>, ms: number, abandoned: AbortController): Promise<MailDecision> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<MailDecision>((resolve) => {
    timer = setTimeout(() => {
      abandoned.abort();
      resolve({ decision: "tempfail", status: "temporarily_unavailable", error: `no decision within ${ms} ms` });
    }, ms);
  });
  // The decision may still settle after TEMPFAIL was answered: nobody is waiting for it then.
  decision.catch(() => {});
  try {
    return await Promise.race([decision, late]);
  } finally {
    clearTimeout(timer);
  }
}
