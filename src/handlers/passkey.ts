import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { PasskeySchema, PasskeyService, type Passkey } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import type { PasskeyRow } from "../domain/records.js";
import type { Passkeys } from "../domain/passkey/passkeys.js";
import { callerOf, metaOf } from "./call-context.js";

export function passkeyToProto(p: PasskeyRow): Passkey {
  return create(PasskeySchema, {
    id: p.id,
    name: p.name,
    createTime: timestampFromDate(p.createdAt),
    lastUsedTime: p.lastUsedAt ? timestampFromDate(p.lastUsedAt) : undefined,
    deviceType: p.deviceType,
    backedUp: p.backedUp,
  });
}

export function passkeyHandlers(passkeys: Passkeys): ServiceImpl<typeof PasskeyService> {
  // The BeginWebAuthnLogin / FinishWebAuthnLogin aliases carry the same fields and share these.
  const startAuthentication = (req: { email: string }, ctx: HandlerContext) => passkeys.startAuthentication(req.email, metaOf(ctx));
  const completeAuthentication = async (req: { challengeId: string; responseJson: string }, ctx: HandlerContext) => {
    const r = await passkeys.completeAuthentication(req.challengeId, req.responseJson, metaOf(ctx));
    return { accessToken: r.accessToken, refreshToken: r.refreshToken, sessionId: r.session.id, expiresAt: timestampFromDate(r.expiresAt), userId: r.user.id };
  };
  return {
    async startPasskeyRegistration(req, ctx) {
      return passkeys.startRegistration(callerOf(ctx), req.name);
    },
    async completePasskeyRegistration(req, ctx) {
      return { passkey: passkeyToProto(await passkeys.completeRegistration(callerOf(ctx), req.challengeId, req.responseJson, metaOf(ctx))) };
    },
    startPasskeyAuthentication: startAuthentication,
    completePasskeyAuthentication: completeAuthentication,
    beginWebAuthnLogin: startAuthentication,
    finishWebAuthnLogin: completeAuthentication,
    async listPasskeys(_req, ctx) {
      return { passkeys: (await passkeys.list(callerOf(ctx))).map(passkeyToProto) };
    },
    async removePasskey(req, ctx) {
      await passkeys.remove(callerOf(ctx), req.id, metaOf(ctx));
      return {};
    },
  };
}
