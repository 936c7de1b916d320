import { lookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { AttemptResult } from "./notification-store.js";
import { addressAllowed, hostOf, type TargetRules } from "./webhook-target.js";

/** The most of a receiver's answer (or an error) kept with a delivery. */
export const EXCERPT_CHARS = 200;

export interface WebhookPost {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface SenderOptions extends TargetRules {
  timeoutMs: number;
}

export type WebhookSender = (post: WebhookPost) => Promise<AttemptResult & { ok: boolean }>;

const excerpt = (s: string) => s.replace(/[\p{Cc}]+/gu, " ").slice(0, EXCERPT_CHARS);

/**
 * One POST: the host resolved and every address checked (addressAllowed), the connection pinned
 * to the checked addresses (a second resolution cannot swap in another: DNS rebinding), redirects
 * not followed (a 3xx is a failed attempt), the whole attempt bounded by timeoutMs, and only the
 * first EXCERPT_CHARS of the answer read.
 */
export function createWebhookSender(opts: SenderOptions): WebhookSender {
  return async (post) => {
    const url = new URL(post.url);
    const signal = AbortSignal.timeout(opts.timeoutMs);
    let addresses: { address: string; family: number }[];
    try {
      addresses = await resolveChecked(hostOf(url), opts);
    } catch (err) {
      return { ok: false, status: null, error: excerpt((err as Error).message) };
    }
    // Only checked addresses (all of them when the socket tries several: happy eyeballs).
    const pinned: LookupFunction = (_host, options, callback) => {
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    };
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = send(
        url,
        {
          method: "POST",
          headers: { ...post.headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(post.body)), connection: "close" },
          lookup: pinned,
          agent: false,
          signal,
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
            if (text.length >= EXCERPT_CHARS) res.destroy();
          });
          const done = () => {
            const ok = status >= 200 && status < 300;
            const why = status >= 300 && status < 400 ? `redirect not followed (${res.headers.location ?? "no location"})` : text;
            resolve({ ok, status, error: ok ? null : excerpt(why) });
          };
          res.on("end", done);
          res.on("close", done);
          res.on("error", done);
        },
      );
      req.on("error", (err) => resolve({ ok: false, status: null, error: excerpt(signal.aborted ? `timed out after ${opts.timeoutMs} ms` : err.message) }));
      req.end(post.body);
    });
  };
}

/** The host's addresses, when every one of them may be reached. */
async function resolveChecked(host: string, rules: TargetRules): Promise<{ address: string; family: number }[]> {
  const family = isIP(host);
  const addresses = family ? [{ address: host, family }] : await lookup(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`${host} did not resolve`);
  const refused = addresses.find((a) => !addressAllowed(a.address, rules));
  if (refused) throw new Error(`refused: ${host} resolves to ${refused.address}, which is not a public address`);
  return addresses;
}
