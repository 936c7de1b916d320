import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/core/protocols";
import { SignatureV4 } from "@smithy/signature-v4";
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A stand-in for AWS STS's GetCallerIdentity on 127.0.0.1: it knows a few access keys, checks
 * each request's SigV4 signature by recomputing it with the AWS SDK's own signer (region
 * us-east-1, service sts, the headers the request says it signed, its X-Amz-Date), and answers
 * as STS does: the caller's identity in the Query protocol's XML (JSON when asked with
 * `Accept: application/json`), or an ErrorResponse (403 SignatureDoesNotMatch, ...).
 */

/** An AWS identity the stand-in knows, and the credentials that sign as it. */
export interface AwsPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (an assumed role) also carry a session token, sent as X-Amz-Security-Token. */
  sessionToken?: string;
  account: string;
  arn: string;
  userId: string;
}

/** How the stand-in answers: as STS; never (a hung STS); 500 InternalFailure; or always XML, whatever Accept says. */
export type StandInMode = "sts" | "hang" | "fail" | "xml-only";

export interface StsStandIn {
  /** The endpoint to configure as sts_endpoint: http://127.0.0.1:<port>/ */
  url: string;
  /** What its requests carry as Host (and must have signed): 127.0.0.1:<port> */
  host: string;
  /** Requests it received (each one that reached it, answered or not). */
  requests: number;
  /** Identities it vouched for, in order. */
  answered: string[];
  mode: StandInMode;
  /** Stops listening (connections refused, as when STS cannot be reached), or listens again on the same port. */
  setDown(down: boolean): Promise<void>;
  close(): Promise<void>;
}

const REGION = "us-east-1";
const SERVICE = "sts";
const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/;
const GET_CALLER_IDENTITY = "Action=GetCallerIdentity&Version=2011-06-15";

export async function startStsStandIn(principals: AwsPrincipal[]): Promise<StsStandIn> {
  const byKey = new Map(principals.map((p) => [p.accessKeyId, p]));
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    standIn.requests++;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (standIn.mode === "hang") return;
      if (standIn.mode === "fail")
        return answerError(req, res, 500, "Receiver", "InternalFailure", "The request processing has failed because of an unknown error.");
      void answer(req, res, Buffer.concat(chunks)).catch((err) => answerError(req, res, 500, "Receiver", "InternalFailure", String(err)));
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const answer = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const refused = await verify(req, body, byKey);
    if ("status" in refused) return answerError(req, res, refused.status, "Sender", refused.code, refused.message);
    const p = refused.principal;
    if (body.toString("utf8").split("&").sort().join("&") !== GET_CALLER_IDENTITY)
      return answerError(req, res, 400, "Sender", "InvalidAction", "Could not find operation for this request");
    standIn.answered.push(p.arn);
    const requestId = randomUUID();
    if (wantsJson(req)) {
      const doc = {
        GetCallerIdentityResponse: {
          GetCallerIdentityResult: { Account: p.account, Arn: p.arn, UserId: p.userId },
          ResponseMetadata: { RequestId: requestId },
        },
      };
      return send(res, 200, "application/json", JSON.stringify(doc));
    }
    send(
      res,
      200,
      "text/xml",
      `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>${xml(p.arn)}</Arn>
    <UserId>${xml(p.userId)}</UserId>
    <Account>${xml(p.account)}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`,
    );
  };
  const wantsJson = (req: IncomingMessage) => standIn.mode !== "xml-only" && /application\/json/.test(req.headers.accept ?? "");
  const answerError = (req: IncomingMessage, res: ServerResponse, status: number, type: string, code: string, message: string) => {
    const requestId = randomUUID();
    if (wantsJson(req))
      return send(res, status, "application/json", JSON.stringify({ Error: { Type: type, Code: code, Message: message }, RequestId: requestId }));
    send(
      res,
      status,
      "text/xml",
      `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>${type}</Type>
    <Code>${code}</Code>
    <Message>${xml(message)}</Message>
  </Error>
  <RequestId>${requestId}</RequestId>
</ErrorResponse>
`,
    );
  };

  const standIn: StsStandIn = {
    url: `http://127.0.0.1:${port}/`,
    host: `127.0.0.1:${port}`,
    requests: 0,
    answered: [],
    mode: "sts",
    async setDown(down) {
      if (down === !server.listening) return;
      if (down) await stop();
      else await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
    async close() {
      if (server.listening) await stop();
    },
  };
  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return standIn;
}

type Verdict = { principal: AwsPrincipal } | { status: number; code: string; message: string };

/** What STS checks of a signed request, in its order, with its error codes. */
async function verify(req: IncomingMessage, body: Buffer, byKey: Map<string, AwsPrincipal>): Promise<Verdict> {
  const auth = AUTHORIZATION.exec(header(req, "authorization") ?? "");
  if (!auth) return { status: 403, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token" };
  const [, keyId, scopeDate, region, service, signedList, signature] = auth as unknown as string[];
  const principal = byKey.get(keyId!);
  if (!principal) return { status: 403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid." };
  if (principal.sessionToken !== undefined && header(req, "x-amz-security-token") !== principal.sessionToken)
    return { status: 403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid." };
  if (region !== REGION || service !== SERVICE) return mismatch(`Credential should be scoped to a valid region and service (${REGION}/${SERVICE}).`);
  const amzDate = header(req, "x-amz-date") ?? "";
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate || amzDate.slice(0, 8) !== scopeDate)
    return mismatch("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.");
  const contentSha = header(req, "x-amz-content-sha256");
  if (contentSha !== undefined && contentSha !== createHash("sha256").update(body).digest("hex"))
    return { status: 400, code: "XAmzContentSHA256Mismatch", message: "The provided 'x-amz-content-sha256' header does not match what was computed." };

  // The request as the signer saw it: only the headers it says it signed.
  const headers: Record<string, string> = {};
  for (const name of signedList!.split(";")) {
    const value = header(req, name);
    if (value === undefined) return mismatch(`The signed header ${name} is missing.`);
    headers[name] = value;
  }
  const url = new URL(req.url ?? "/", "http://stand-in");
  const request = new HttpRequest({
    method: req.method ?? "POST",
    protocol: "http:",
    hostname: "127.0.0.1",
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    body,
  });
  // No session token and no checksum of its own: the signer adds only what the node signed.
  const signer = new SignatureV4({
    credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey },
    region: REGION,
    service: SERVICE,
    sha256: Sha256,
    applyChecksum: false,
  });
  const expected = /Signature=([0-9a-f]{64})$/.exec(String((await signer.sign(request, { signingDate })).headers.authorization))![1]!;
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature!)))
    return mismatch("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.");
  return { principal };
}

function mismatch(message: string): Verdict {
  return { status: 403, code: "SignatureDoesNotMatch", message };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

function send(res: ServerResponse, status: number, contentType: string, body: string) {
  res.writeHead(status, { "content-type": contentType, "x-amzn-requestid": randomUUID() });
  res.end(body);
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// ---------------------------------------------------------------- the node's side

export interface SignOptions {
  /** The STS host the request is for (what the server's endpoint sends as Host). */
  host: string;
  principal: Pick<AwsPrincipal, "accessKeyId" | "secretAccessKey" | "sessionToken">;
  /** The challenge and the header that carries it. */
  challenge: string;
  headerName: string;
  signingDate: Date;
  /** false: the challenge header is added after signing, outside SignedHeaders. */
  signChallenge?: boolean;
  body?: string;
}

/**
 * What an agent sends as its proof: an sts:GetCallerIdentity POST signed with the AWS SDK's
 * SigV4 signer (the signer adds X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token for
 * temporary credentials, and Authorization), with the challenge in a signed header.
 */
export async function signGetCallerIdentity(o: SignOptions): Promise<{ headers: Record<string, string>; body: Uint8Array }> {
  const body = o.body ?? GET_CALLER_IDENTITY;
  const signChallenge = o.signChallenge ?? true;
  const [hostname, port] = o.host.split(":");
  const request = new HttpRequest({
    method: "POST",
    protocol: "https:",
    hostname,
    port: port ? Number(port) : undefined,
    path: "/",
    headers: {
      host: o.host,
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
      ...(signChallenge ? { [o.headerName]: o.challenge } : {}),
    },
    body,
  });
  const signer = new SignatureV4({ credentials: o.principal, region: REGION, service: SERVICE, sha256: Sha256 });
  const signed = await signer.sign(request, { signingDate: o.signingDate });
  const headers = { ...(signed.headers as Record<string, string>) };
  if (!signChallenge) headers[o.headerName] = o.challenge;
  return { headers, body: new TextEncoder().encode(body) };
}
