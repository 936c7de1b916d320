import { beforeAll, describe, expect, it } from "vitest";
import { postConnect, registerAndLogin, clientsFor } from "../helpers/e2e-clients.js";
import { useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { createConnectTransport } from "@connectrpc/connect-node";
import { connectRaw } from "./support/rpc.js";

/**
 * Attack: an enum value spelled with a name the server does not know. Read leniently, it
 * became the enum's default (here: an organization of the unspecified tier), so a request
 * the client believed specific was served as something else. Connect JSON is read strictly:
 * unknown enum names, and unknown field names, are INVALID_ARGUMENT.
 */
const CREATE_ORG = "warden.org.v1.OrganizationService/CreateOrganization";

describe("Connect JSON: unknown enum names and fields are refused", () => {
  const current = useServerProcess();
  let server: ServerProcess;
  let auth: Record<string, string>;
  beforeAll(async () => {
    server = current();
    const { auth: client } = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
    const { login } = await registerAndLogin(client, "enum");
    auth = { authorization: `Bearer ${login.accessToken}` };
  });

  it("an unknown enum name -> INVALID_ARGUMENT (not the default tier)", async () => {
    const body = JSON.stringify({ name: "Acme", tier: "ORGANIZATION_TIER_PLATINUM" });
    expect(await connectRaw(server.baseUrl, CREATE_ORG, body, "application/json", auth)).toMatchObject({
      code: "InvalidArgument",
      reason: "INVALID_ARGUMENT",
      status: 400,
    });
  });

  it("an unknown field name -> INVALID_ARGUMENT", async () => {
    const body = JSON.stringify({ name: "Acme", tier: "ORGANIZATION_TIER_STARTER", owner: "someone-else" });
    expect(await connectRaw(server.baseUrl, CREATE_ORG, body, "application/json", auth)).toMatchObject({ code: "InvalidArgument", status: 400 });
  });

  it("known names are served", async () => {
    const r = await postConnect(server.baseUrl, CREATE_ORG, { name: "Acme", tier: "ORGANIZATION_TIER_STARTER" }, auth);
    expect(r.status).toBe(200);
    expect(r.json.organization.tier).toBe("ORGANIZATION_TIER_STARTER");
  });
});
