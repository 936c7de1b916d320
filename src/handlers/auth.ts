import type { DeviceProof } from "../../gen/warden/device/v1/device_service_pb.js";
import type { DeviceProofInput } from "../domain/device/device-proof.js";
import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import type { AuthService as Auth } from "../domain/auth/auth-service.js";
import { callerOf, metaOf } from "./call-context.js";
import { DomainError, invalidArgument } from "../domain/errors.js";
import type { EmailVerification } from "../domain/user/email-verification.js";
import type { SignInResult } from "../domain/auth/sign-in.js";
import type { MfaVerification } from "../domain/mfa/mfa-verification.js";
import type { FederatedSignIn } from "../domain/oidc/federated-sign-in.js";
import { userToProto } from "./converters.js";
import type { UserCertificates } from "../domain/ca/user-certificates.js";
import { principalOf } from "./call-context.js";
import type { ServerInfoSource } from "../domain/auth/server-info.js";

/** Tokens, or the MFA challenge that replaces them. */
function signInResponse(r: SignInResult) {
  if (r.kind === "mfa") return { mfaRequired: true, challengeId: r.challengeId, mfaMethods: r.methods, user: userToProto(r.user) };
  return {
    accessToken: r.accessToken,
    refreshToken: r.refreshToken,
    sessionId: r.session.id,
    expiresAt: timestampFromDate(r.expiresAt),
    user: userToProto(r.user),
  };
}

export function authHandlers(
  auth: Auth,
  federated: FederatedSignIn,
  mfa: MfaVerification,
  email: EmailVerification,
  certificates: Pick<UserCertificates, "issue">,
  serverInfo: Pick<ServerInfoSource, "ping">,
): ServiceImpl<typeof AuthService> {
  return {
    async ping() {
      const r = await serverInfo.ping();
      return { ...r, serverTime: timestampFromDate(r.serverTime) };
    },
    async issueUserCerts(req, ctx) {
      if (req.ttl && req.ttl.nanos !== 0) throw invalidArgument("ttl", "must be whole seconds");
      const r = await certificates.issue(principalOf(ctx), req.publicKey, req.ttl ? Number(req.ttl.seconds) : undefined, metaOf(ctx));
      return {
        sshCertificate: r.certificate,
        trustedHostCas: r.hostCaKnownHosts,
        validAfter: timestampFromDate(r.validAfter),
        validBefore: timestampFromDate(r.validBefore),
        principals: r.principals,
      };
    },
    async verifyMFA(req, ctx) {
      return signInResponse({ kind: "tokens", ...(await mfa.verify(req.challengeId, req.code, metaOf(ctx))) });
    },
    async submitPhoneAndRequestMFA(req, ctx) {
      return { expiresAt: timestampFromDate(await mfa.sendPhoneCode(req.challengeId, req.phone, metaOf(ctx))) };
    },
    async register(req, ctx) {
      const r = await auth.register({ email: req.email, password: req.password, displayName: req.displayName }, metaOf(ctx));
      return { user: userToProto(r.user), emailVerificationSent: r.verificationSent };
    },
    async verifyEmail(req, ctx) {
      if (req.token) return { user: userToProto(await email.verifyToken(req.token, metaOf(ctx))) };
      if (!req.email || !req.code) throw invalidArgument("code", "give the email and the code from the message, or the link's token");
      return { user: userToProto(await email.verifyCode(req.email, req.code, metaOf(ctx))) };
    },
    async resendEmailVerification(_req, ctx) {
      return { expiresAt: timestampFromDate(await email.resend(callerOf(ctx).userId, metaOf(ctx))) };
    },
    async login(req, ctx) {
      return signInResponse(await auth.login(req.email, req.password, metaOf(ctx), "password", proofOf(req.deviceProof)));
    },
    async authenticateLocal(req, ctx) {
      const r = await auth.login(req.username, req.password, metaOf(ctx), "password_local", proofOf(req.deviceProof));
      // One opaque credential cannot carry a challenge: the error names it instead.
      if (r.kind === "mfa")
        throw new DomainError("failed_precondition", "MFA_REQUIRED", "a second factor is required; complete it with VerifyMFA", {
          metadata: { challenge_id: r.challengeId },
        });
      return { sessionId: r.sessionBearer, expiresAt: timestampFromDate(r.session.expiresAt) };
    },
    async verifyCredentials(req, ctx) {
      const user = await auth.verifyCredentials(req.email, req.password, metaOf(ctx));
      return { userId: user.id };
    },
    async refresh(req, ctx) {
      const r = await auth.refresh(req.refreshToken, metaOf(ctx), proofOf(req.deviceProof));
      return { accessToken: r.accessToken, refreshToken: r.refreshToken, expiresAt: timestampFromDate(r.expiresAt) };
    },
    async logout(_req, ctx) {
      await auth.logout(callerOf(ctx), metaOf(ctx));
      return {};
    },
    async changePassword(req, ctx) {
      const revokedSessions = await auth.changePassword(callerOf(ctx), req.currentPassword, req.newPassword, metaOf(ctx));
      return { revokedSessions };
    },
    async verifyOAuthToken(req, ctx) {
      const { result: r, created } = await federated.signIn(req.idToken, req.connectorId, metaOf(ctx));
      if (r.kind === "mfa") return { mfaRequired: true, challengeId: r.challengeId, user: userToProto(r.user), created };
      return { ...signInResponse(r), created };
    },
    async linkIdentity(req, ctx) {
      const identity = await federated.link(callerOf(ctx), req.idToken, req.connectorId, metaOf(ctx));
      return { issuer: identity.issuer, subject: identity.subject };
    },
  };
}

/** A request's device proof in the domain's terms (absent when the message is). */
function proofOf(p: DeviceProof | undefined): DeviceProofInput | undefined {
  return p ? { deviceId: p.deviceId, challengeId: p.challengeId, signature: p.signature } : undefined;
}
