import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import type { Clock } from "../../src/clock.js";

export type TestAlg = "RS256" | "ES256" | "EdDSA";

export interface TestKey {
  kid: string;
  alg: TestAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function newTestKey(alg: TestAlg, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

/**
 * A real OIDC identity provider as far as Warden can tell: a node:http server on 127.0.0.1
 * serving the public half of its own keys at /jwks, and ID tokens signed with the private half.
 */
export class TestOidcProvider {
  /** JWKS requests served so far. */
  fetches = 0;
  /** When set, /jwks answers with this status and no key set. */
  failWith: number | undefined;

  private constructor(
    private readonly server: Server,
    readonly issuer: string,
    readonly keys: TestKey[],
  ) {}

  static async start(name: string): Promise<TestOidcProvider> {
    const keys = [await newTestKey("RS256", `${name}-rs`), await newTestKey("ES256", `${name}-es`), await newTestKey("EdDSA", `${name}-ed`)];
    // The handler runs only once the provider below exists.
    const self: { provider?: TestOidcProvider } = {};
    const server = createServer((req, res) => {
      if (req.method !== "GET" || req.url !== "/jwks") return void res.writeHead(404).end();
      const provider = self.provider!;
      provider.fetches++;
      if (provider.failWith) return void res.writeHead(provider.failWith).end("down");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    self.provider = new TestOidcProvider(server, `http://127.0.0.1:${port}`, keys);
    return self.provider;
  }

  get jwksUrl(): string {
    return `${this.issuer}/jwks`;
  }

  /** A well-formed ID token for `clientId`, issued now by the given clock; claims override. */
  idToken(clock: Clock, clientId: string, claims: JWTPayload = {}, key: TestKey = this.keys[0]!): Promise<string> {
    const now = Math.floor(clock.now().getTime() / 1000);
    const payload: JWTPayload = {
      iss: this.issuer,
      aud: clientId,
      sub: "subject-1",
      email: "someone@example.com",
      email_verified: true,
      iat: now,
      exp: now + 3600,
      ...claims,
    };
    return signWith(payload, key);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export function signWith(payload: JWTPayload, key: TestKey, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header }).sign(key.privateKey);
}
