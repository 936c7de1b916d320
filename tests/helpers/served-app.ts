import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll } from "vitest";
import type { Config } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { createTestApp, type TestApp } from "./test-app.js";

export interface ServedApp {
  t: TestApp;
  server: RunningServer;
  /** A client whose calls come from `address`, as the trusted local proxy (127.0.0.1) says with X-Forwarded-For. */
  from<S extends DescService>(service: S, address: string, headers?: Record<string, string>): Client<S>;
}

/**
 * A test app served on a real port of 127.0.0.1 in this process, trusting 127.0.0.1 as a proxy:
 * each client names the address it stands for, so per-address budgets can be exercised.
 */
export function useServedApp(overrides: Partial<Record<keyof Config, unknown>> = {}): () => ServedApp {
  let served: ServedApp | undefined;
  beforeAll(async () => {
    const t = await createTestApp({ trusted_proxies: "127.0.0.1", ...overrides });
    const server = await startServer(t.app, "127.0.0.1:0");
    served = {
      t,
      server,
      from(service, address, headers = {}) {
        const forwarded: Interceptor = (next) => (req) => {
          req.header.set("x-forwarded-for", address);
          for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
          return next(req);
        };
        return createClient(service, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", interceptors: [forwarded] }));
      },
    };
  });
  afterAll(async () => {
    await served?.server.drain(200);
    await served?.t.close();
  });
  return () => {
    if (!served) throw new Error("the served app starts in beforeAll");
    return served;
  };
}
