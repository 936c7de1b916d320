import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { AUTHENTICATE, authRequest, BASIC, bufCurl, registerMailUser, startBackchannelWarden, type BackchannelWarden } from "../helpers/backchannel.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { SLOW_TEST } from "../helpers/server-process.js";

/** A bare TLS handshake with the client offering h2 and http/1.1: what the server picked. */
function alpnOf(port: number, ca: Buffer): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca, ALPNProtocols: ["h2", "http/1.1"] }, () => {
      resolve(socket.alpnProtocol);
      socket.end();
    });
    socket.on("error", reject);
  });
}

describe("the backchannel listener with TLS (its own certificate, ALPN h2)", () => {
  let pki: TestPki;
  let w: BackchannelWarden;
  beforeAll(async () => {
    pki = makeTestPki();
    w = await startBackchannelWarden({ WARDEN_BACKCHANNEL_TLS_CERT_FILE: pki.server.cert, WARDEN_BACKCHANNEL_TLS_KEY_FILE: pki.server.key });
  }, SLOW_TEST.timeout);
  afterAll(async () => {
    await w?.dispose();
    pki?.cleanup();
  });

  it("advertises h2 by ALPN and answers Authenticate over gRPC on TLS; the main port stays cleartext", SLOW_TEST, async () => {
    const address = w.server.backchannelAddress!;
    expect(w.server.logLines().find((l) => l.msg === "warden listening")).toMatchObject({ backchannel_tls: true, tls: false });
    expect(await alpnOf(Number(address.slice(address.lastIndexOf(":") + 1)), pki.read(pki.ca.cert))).toBe("h2");
    const user = await registerMailUser(w.server.baseUrl, "tls");
    const r = await bufCurl([
      "--protocol",
      "grpc",
      "--cacert",
      pki.ca.cert,
      "-H",
      `authorization: ${BASIC}`,
      "-d",
      JSON.stringify(authRequest(user.email, user.password)),
      `https://${address}/${AUTHENTICATE}`,
    ]);
    expect(r.exit, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, decision: "AUTH_DECISION_OK" });
  });
});

describe("backchannel settings", () => {
  const base = { data_dir: "/tmp/unused", master_key: "m".repeat(40) };
  const problem = (overrides: Record<string, unknown>) => {
    try {
      loadConfig({}, { ...base, ...overrides });
      return "";
    } catch (err) {
      return (err as Error).message;
    }
  };

  it("cleartext only on loopback; Basic needs its pair; some way to authenticate callers", () => {
    expect(problem({ backchannel_address: "0.0.0.0:9444" })).toMatch(/backchannel_address.*loopback/s);
    expect(problem({ backchannel_address: "0.0.0.0:9444", backchannel_tls_cert_file: "/c.pem", backchannel_tls_key_file: "/k.pem" })).toBe("");
    expect(problem({ backchannel_basic_auth_enabled: true })).toMatch(/backchannel_basic_auth_password/);
    expect(problem({ backchannel_basic_auth_enabled: true, backchannel_basic_auth_username: "u", backchannel_basic_auth_password: "short" })).toMatch(/16/);
    expect(problem({ backchannel_bearer_enabled: false })).toMatch(/backchannel_bearer_enabled/);
    expect(problem({ backchannel_require_client_cert: true })).toMatch(/backchannel/);
    // Off, none of it is checked.
    expect(problem({ backchannel_enabled: false, backchannel_address: "0.0.0.0:9444", backchannel_bearer_enabled: false })).toBe("");
  });
});
