import { ScalarType, type DescField } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  AttributeValuesSchema,
  AuthDecisionSchema,
  AuthRequestSchema,
  AuthResponseSchema,
  AuthService,
  ListAccountsRequestSchema,
  ListAccountsResponseSchema,
} from "../../gen/nauthilus/auth/v1/auth_pb.js";
import { policyOf } from "../../src/policy.js";
import { Access } from "../../gen/warden/options/v1/options_pb.js";

/** "name=number:type" for every field, as the published contract lists them (issue 11). */
function shape(fields: readonly DescField[]): string[] {
  return fields.map((f) => {
    if (f.fieldKind === "scalar") return `${f.name}=${f.number}:${ScalarType[f.scalar].toLowerCase()}`;
    if (f.fieldKind === "enum") return `${f.name}=${f.number}:${f.enum.typeName}`;
    if (f.fieldKind === "list") return `${f.name}=${f.number}:repeated ${f.listKind === "scalar" ? ScalarType[f.scalar].toLowerCase() : "message"}`;
    if (f.fieldKind === "map")
      return `${f.name}=${f.number}:map<${ScalarType[f.mapKey].toLowerCase()}, ${f.mapKind === "message" ? f.message.typeName : "scalar"}>`;
    return `${f.name}=${f.number}:${f.message.typeName}`;
  });
}

const AUTH_REQUEST_STRINGS = [
  "username", "password", "client_ip", "client_port", "client_hostname", "client_id", "external_session_id", "user_agent", "local_ip", "local_port",
  "protocol", "method", "ssl", "ssl_session_id", "ssl_client_verify", "ssl_client_dn", "ssl_client_cn", "ssl_issuer", "ssl_client_notbefore",
  "ssl_client_notafter", "ssl_subject_dn", "ssl_issuer_dn", "ssl_client_subject_dn", "ssl_client_issuer_dn", "ssl_protocol", "ssl_cipher",
  "ssl_serial", "ssl_fingerprint", "oidc_cid",
]; // prettier-ignore

const LIST_ACCOUNTS_STRINGS = [
  "username", "client_ip", "client_port", "client_hostname", "client_id", "external_session_id", "user_agent", "local_ip", "local_port", "protocol",
  "method", "oidc_cid",
]; // prettier-ignore

describe("nauthilus.auth.v1: the published contract, wire-compatible to the field number", () => {
  it("package, service and methods", () => {
    expect(AuthService.typeName).toBe("nauthilus.auth.v1.AuthService");
    expect(AuthService.file.proto.name).toBe("nauthilus/auth/v1/auth.proto");
    expect(AuthService.file.proto.syntax).toBe("proto3");
    expect(AuthService.methods.map((m) => `${m.name}(${m.input.typeName}) ${m.methodKind} ${m.output.typeName}`)).toEqual([
      "Authenticate(nauthilus.auth.v1.AuthRequest) unary nauthilus.auth.v1.AuthResponse",
      "ListAccounts(nauthilus.auth.v1.ListAccountsRequest) unary nauthilus.auth.v1.ListAccountsResponse",
    ]);
    // Imports nothing of Warden's: the file is as published.
    expect(AuthService.file.proto.dependency).toEqual([]);
  });

  it("AuthRequest: 29 strings numbered 1-29, then auth_login_attempt=30 (uint32)", () => {
    expect(shape(AuthRequestSchema.fields)).toEqual([...AUTH_REQUEST_STRINGS.map((n, i) => `${n}=${i + 1}:string`), "auth_login_attempt=30:uint32"]);
  });

  it("AuthDecision, AttributeValues and AuthResponse", () => {
    expect(AuthDecisionSchema.values.map((v) => `${v.name}=${v.number}`)).toEqual([
      "AUTH_DECISION_UNSPECIFIED=0",
      "AUTH_DECISION_OK=1",
      "AUTH_DECISION_FAIL=2",
      "AUTH_DECISION_TEMPFAIL=3",
    ]);
    expect(shape(AttributeValuesSchema.fields)).toEqual(["values=1:repeated string"]);
    expect(shape(AuthResponseSchema.fields)).toEqual([
      "ok=1:bool",
      "decision=2:nauthilus.auth.v1.AuthDecision",
      "session=3:string",
      "account_field=4:string",
      "totp_secret_field=5:string",
      "backend=6:uint32",
      "attributes=7:map<string, nauthilus.auth.v1.AttributeValues>",
      "status_message=8:string",
      "error=9:string",
    ]);
  });

  it("ListAccountsRequest (numbered apart from AuthRequest) and ListAccountsResponse", () => {
    expect(shape(ListAccountsRequestSchema.fields)).toEqual(LIST_ACCOUNTS_STRINGS.map((n, i) => `${n}=${i + 1}:string`));
    expect(shape(ListAccountsResponseSchema.fields)).toEqual(["accounts=1:repeated string", "session=2:string"]);
  });

  it("its methods are governed by the policy mechanism (the side table): backchannel callers only", () => {
    for (const m of AuthService.methods) expect(policyOf(m)?.access, m.name).toBe(Access.BACKCHANNEL);
  });
});
