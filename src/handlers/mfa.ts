import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DevService } from "../../gen/warden/dev/v1/dev_service_pb.js";
import { FactorSchema, FactorType, MfaService, type Factor } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { kCredentialFailed } from "../context.js";
import { invalidArgument, notFound } from "../domain/errors.js";
import { normalizeEmail } from "../domain/auth/email.js";
import type { FactorView, MfaFactors } from "../domain/mfa/mfa-factors.js";
import type { DevOtpStore } from "../domain/mfa/sms-sender.js";
import { checkPhone } from "../domain/mfa/otp.js";
import { callerOf, metaOf } from "./call-context.js";

const TYPES: Record<string, FactorType> = { totp: FactorType.TOTP, phone: FactorType.PHONE };

function factorToProto(f: FactorView): Factor {
  return create(FactorSchema, {
    id: f.row.id,
    type: TYPES[f.row.type] ?? FactorType.UNSPECIFIED,
    confirmed: !!f.row.confirmedAt,
    createTime: timestampFromDate(f.row.createdAt),
    lastUsedTime: f.row.lastUsedAt ? timestampFromDate(f.row.lastUsedAt) : undefined,
    maskedPhone: f.maskedPhone ?? "",
  });
}

export function mfaHandlers(mfa: MfaFactors): ServiceImpl<typeof MfaService> {
  return {
    async enrollTotp(_req, ctx) {
      const r = await mfa.enrollTotp(callerOf(ctx), metaOf(ctx));
      return { factorId: r.factorId, secret: r.secret, otpauthUri: r.uri };
    },
    async confirmTotp(req, ctx) {
      return { factor: factorToProto({ row: await mfa.confirmTotp(callerOf(ctx), req.factorId, req.code, metaOf(ctx)) }) };
    },
    async validateTotp(req, ctx) {
      const valid = await mfa.validateTotp(callerOf(ctx), req.code, metaOf(ctx));
      if (!valid) ctx.values.set(kCredentialFailed, true);
      return { valid };
    },
    async enrollPhone(req, ctx) {
      const r = await mfa.enrollPhone(callerOf(ctx), req.phone, metaOf(ctx));
      return { factorId: r.factorId, codeExpiresAt: timestampFromDate(r.expiresAt) };
    },
    async confirmPhone(req, ctx) {
      return { factor: factorToProto(await mfa.confirmPhone(callerOf(ctx), req.factorId, req.code, metaOf(ctx))) };
    },
    async listFactors(_req, ctx) {
      const r = await mfa.list(callerOf(ctx));
      const factors = r.factors.map(factorToProto);
      if (r.remainingRecoveryCodes > 0)
        factors.push(
          create(FactorSchema, { id: "recovery-codes", type: FactorType.RECOVERY_CODES, confirmed: true, remainingCodes: r.remainingRecoveryCodes }),
        );
      return { factors };
    },
    async removeFactor(req, ctx) {
      await mfa.remove(callerOf(ctx), req.factorId, metaOf(ctx));
      return {};
    },
    async generateRecoveryCodes(_req, ctx) {
      return { codes: await mfa.generateRecoveryCodes(callerOf(ctx), metaOf(ctx)) };
    },
  };
}

/** Reachable only in dev mode (the policy answers UNIMPLEMENTED otherwise). */
export function devHandlers(otps: DevOtpStore): ServiceImpl<typeof DevService> {
  return {
    async getOTP(req) {
      if (!req.phone === !req.email) throw invalidArgument("phone", "give a phone or an email address, not both");
      const code = otps.get(req.phone ? checkPhone(req.phone) : normalizeEmail(req.email));
      if (!code) throw notFound("CODE_NOT_FOUND", "code");
      return { code };
    },
  };
}
