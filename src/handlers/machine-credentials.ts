import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { ServiceAccountService } from "../../gen/warden/serviceaccount/v1/service_account_service_pb.js";
import type { ApiKeys } from "../domain/apikey/api-keys.js";
import { DomainError } from "../domain/errors.js";
import type { ServiceAccounts } from "../domain/serviceaccount/service-accounts.js";
import type { ApiKeySessions } from "../domain/apikey/api-key-sessions.js";
import { kCredentialFailed } from "../context.js";
import { grantOf, metaOf, principalOf } from "./call-context.js";
import { apiKeyToProto, optionalDate, scopesFromProto, serviceAccountToProto } from "./tenancy-converters.js";

export function apiKeyHandlers(keys: ApiKeys, sessions: ApiKeySessions): ServiceImpl<typeof ApiKeyService> {
  return {
    async createApiKey(req, ctx) {
      const r = await keys.create(
        principalOf(ctx),
        grantOf(ctx),
        { name: req.name, scopes: scopesFromProto(req.scopes), expiresAt: optionalDate(req.expiresAt), serviceAccountId: req.serviceAccountId },
        metaOf(ctx),
      );
      return { apiKey: apiKeyToProto(r.row), secret: r.secret };
    },
    async validateApiKey(req, ctx) {
      let validated;
      try {
        validated = await keys.authenticate(req.key);
      } catch (err) {
        // "Not valid" is an answer here; faults still fail closed.
        if (!(err instanceof DomainError && err.kind === "unauthenticated")) throw err;
        // The rate-limit interceptor keeps the network point for this answer.
        ctx.values.set(kCredentialFailed, true);
        return { valid: false, scopes: [], organizationId: "" };
      }
      const { row } = validated;
      const session = req.issueSessionToken ? await sessions.issue(row) : undefined;
      return {
        valid: true,
        apiKey: apiKeyToProto(row),
        organizationId: row.organizationId,
        scopes: apiKeyToProto(row).scopes,
        sessionToken: session?.token ?? "",
        sessionTokenExpiresAt: session ? timestampFromDate(session.expiresAt) : undefined,
      };
    },
    async revokeApiKey(req, ctx) {
      await keys.revoke(principalOf(ctx), req.id, metaOf(ctx));
      return {};
    },
    async listApiKeys(req, ctx) {
      const page = await keys.list(principalOf(ctx), grantOf(ctx), req);
      return { apiKeys: page.items.map(apiKeyToProto), nextPageToken: page.nextPageToken };
    },
    async rotateApiKey(req, ctx) {
      const r = await keys.rotate(principalOf(ctx), req.id, req.overlapSeconds, metaOf(ctx));
      return { apiKey: apiKeyToProto(r.row), secret: r.secret };
    },
  };
}

export function serviceAccountHandlers(accounts: ServiceAccounts): ServiceImpl<typeof ServiceAccountService> {
  return {
    async createServiceAccount(req, ctx) {
      const r = await accounts.create(principalOf(ctx), grantOf(ctx), { name: req.name, scopes: scopesFromProto(req.scopes) }, metaOf(ctx));
      return { serviceAccount: serviceAccountToProto(r.row), clientSecret: r.secret };
    },
    async authenticateServiceAccount(req, ctx) {
      const r = await accounts.authenticate(req.clientId, req.clientSecret, metaOf(ctx));
      return { accessToken: r.token, expiresAt: timestampFromDate(r.expiresAt) };
    },
    async getServiceAccount(req, ctx) {
      return { serviceAccount: serviceAccountToProto(await accounts.get(grantOf(ctx), req.id)) };
    },
    async updateServiceAccount(req, ctx) {
      const row = await accounts.update(
        principalOf(ctx),
        grantOf(ctx),
        req.id,
        { name: req.name, scopes: req.updateScopes ? scopesFromProto(req.scopes) : undefined, disabled: req.disabled },
        metaOf(ctx),
      );
      return { serviceAccount: serviceAccountToProto(row) };
    },
    async deleteServiceAccount(req, ctx) {
      await accounts.delete(principalOf(ctx), grantOf(ctx), req.id, metaOf(ctx));
      return {};
    },
    async listServiceAccounts(req, ctx) {
      const page = await accounts.list(grantOf(ctx), req);
      return { serviceAccounts: page.items.map(serviceAccountToProto), nextPageToken: page.nextPageToken };
    },
    async rotateServiceAccountSecret(req, ctx) {
      const r = await accounts.rotateSecret(principalOf(ctx), grantOf(ctx), req.id, metaOf(ctx));
      return { serviceAccount: serviceAccountToProto(r.row), clientSecret: r.secret };
    },
  };
}
