import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DevService } from "../../gen/warden/dev/v1/dev_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { WebhookSmsSender, type WebhookOptions } from "../../src/domain/mfa/sms-sender.js";
import { expectFailure } from "../helpers/expect-error.js";
import { freshPhone, signUp } from "../helpers/mfa-world.js";
import { startSmsEndpoint, type SmsEndpoint } from "../helpers/mfa-sms-endpoint.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const TOKEN = "sms-provider-token-for-tests";

describe("SMS webhook sender", () => {
  let endpoint: SmsEndpoint;
  beforeAll(async () => {
    endpoint = await startSmsEndpoint();
  });
  afterAll(async () => endpoint?.close());
  beforeEach(() => endpoint.reset());

  const sender = (opts: Partial<WebhookOptions> = {}) => new WebhookSmsSender({ url: endpoint.url, bearerToken: TOKEN, timeoutMs: 1000, retries: 2, ...opts });

  it("POSTs {to, text} as JSON with the bearer token", async () => {
    await sender().send("+14155550123", "Your code is 123456");
    expect(endpoint.hits).toHaveLength(1);
    const [hit] = endpoint.hits;
    expect(hit!.method).toBe("POST");
    expect(hit!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(hit!.headers["content-type"]).toMatch(/^application\/json/);
    expect(hit!.body).toEqual({ to: "+14155550123", text: "Your code is 123456" });
  });

  it("sends no authorization header without a token", async () => {
    await sender({ bearerToken: undefined }).send("+14155550123", "hi");
    expect(endpoint.hits[0]!.headers.authorization).toBeUndefined();
  });

  it("retries a 500 and then succeeds", async () => {
    endpoint.plan({ status: 500 });
    await sender().send("+14155550123", "retry me");
    expect(endpoint.hits.map((h) => h.body)).toEqual([
      { to: "+14155550123", text: "retry me" },
      { to: "+14155550123", text: "retry me" },
    ]);
  });

  it("gives up after the configured retries, and does not retry a 4xx", async () => {
    endpoint.plan({ status: 502 }, { status: 503 }, { status: 500 });
    await expect(sender().send("+14155550123", "x")).rejects.toThrow(/SMS webhook failed/);
    expect(endpoint.hits).toHaveLength(3);

    endpoint.reset();
    endpoint.plan({ status: 401 });
    await expect(sender().send("+14155550123", "x")).rejects.toThrow(/SMS webhook failed/);
    expect(endpoint.hits).toHaveLength(1);
  });

  it("gives up on a try that outlasts the timeout, and retries it", async () => {
    endpoint.plan({ status: 200, delayMs: 5000 });
    await sender({ timeoutMs: 300, retries: 1 }).send("+14155550123", "slow");
    const hits = await endpoint.settled();
    expect(hits.map(({ abandoned, answered }) => ({ abandoned, answered }))).toEqual([
      { abandoned: true, answered: false },
      { abandoned: false, answered: true },
    ]);
  });
});

describe("phone enrollment through the webhook (dev mode off)", () => {
  let endpoint: SmsEndpoint;
  let t: TestApp;
  let mfa: Client<typeof MfaService>;

  beforeAll(async () => {
    endpoint = await startSmsEndpoint();
    t = await createTestApp({ sms_webhook_url: endpoint.url, sms_webhook_token: TOKEN, sms_webhook_timeout: 1, sms_webhook_retries: 0 });
    mfa = t.client(MfaService);
  });
  afterAll(async () => {
    await t?.close();
    await endpoint?.close();
  });
  beforeEach(() => endpoint.reset());

  it("answers UNAVAILABLE (SMS_UNAVAILABLE) when the provider is slower than the timeout, and enrolls nothing", async () => {
    const m = await signUp(t, "slow-sms");
    endpoint.plan({ status: 200, delayMs: 5000 });
    await expectFailure(mfa.enrollPhone({ phone: freshPhone() }, m.h), Code.Unavailable, "SMS_UNAVAILABLE");
    const hits = await endpoint.settled();
    expect(hits).toHaveLength(1);
    expect(hits[0], "the server gave up on the provider before its reply").toMatchObject({ abandoned: true, answered: false });
    expect((await mfa.listFactors({}, m.h)).factors).toEqual([]);
  });

  it("delivers the code to the provider; the code from the message confirms the phone", async () => {
    const m = await signUp(t, "webhook-sms");
    const phone = freshPhone();
    const { factorId } = await mfa.enrollPhone({ phone }, m.h);
    expect(endpoint.hits).toHaveLength(1);
    const body = endpoint.hits[0]!.body as { to: string; text: string };
    expect(body.to).toBe(phone);
    const code = /\b(\d{6})\b/.exec(body.text)?.[1];
    expect(code).toBeDefined();
    expect((await mfa.confirmPhone({ factorId, code: code! }, m.h)).factor?.confirmed).toBe(true);
    // Outside dev mode no code is kept for DevService.
    expect(t.app.hooks.devOtps.get(phone)).toBeUndefined();
  });

  it("keeps DevService.GetOTP unimplemented", async () => {
    await expectFailure(t.client(DevService).getOTP({ phone: "+14155550123" }), Code.Unimplemented);
  });
});
