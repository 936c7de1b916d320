import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, STRONG_PASSWORD, type TestApp } from "./test-app.js";
import { uniqueEmail } from "./unique.js";

export interface SignedIn {
  email: string;
  password: string;
  userId: string;
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** Call options carrying the access token. */
  auth: { headers: Record<string, string> };
}

export async function login(t: TestApp, email: string, password: string): Promise<SignedIn> {
  const r = await t.client(AuthService).login({ email, password });
  if (!r.accessToken) throw new Error(`no tokens for ${email} (mfa_required=${r.mfaRequired})`);
  return { email, password, userId: r.user!.id, sessionId: r.sessionId, accessToken: r.accessToken, refreshToken: r.refreshToken, auth: bearer(r.accessToken) };
}

/** Registers a new user and signs them in. */
export async function newUser(t: TestApp, opts: { tag?: string; email?: string; password?: string } = {}): Promise<SignedIn> {
  const email = opts.email ?? uniqueEmail(opts.tag);
  const password = opts.password ?? STRONG_PASSWORD;
  await t.client(AuthService).register({ email, password, displayName: opts.tag ?? "" });
  return login(t, email, password);
}

/** The bootstrap administrator, signed in. */
export function adminLogin(t: TestApp): Promise<SignedIn> {
  return login(t, ADMIN_EMAIL, ADMIN_PASSWORD);
}

/** A session bearer (`wds_<id>.<secret>`) from AuthenticateLocal. */
export async function localSession(t: TestApp, email: string, password: string): Promise<string> {
  return (await t.client(AuthService).authenticateLocal({ username: email, password })).sessionId;
}
