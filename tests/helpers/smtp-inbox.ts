import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  /** Who logged in to send it (SMTP AUTH), if anyone. */
  user?: string;
  raw: string;
  /** The text part, with quoted-printable soft breaks and escapes undone. */
  text: string;
}

export interface SmtpInbox {
  host: string;
  port: number;
  mails: ReceivedMail[];
  /** The next mail to this address not returned before (waits for it if it has not come yet). */
  next(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/** Decodes a quoted-printable body: soft line breaks joined, =XX turned back into bytes. */
function decodeQuotedPrintable(body: string): string {
  const joined = body.replace(/=\r?\n/g, "");
  return Buffer.from(
    joined.replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    "latin1",
  ).toString("utf8");
}

function textOf(raw: string): string {
  const split = raw.indexOf("\r\n\r\n");
  const headers = raw.slice(0, split);
  const body = raw.slice(split + 4);
  return /content-transfer-encoding:\s*quoted-printable/i.test(headers) ? decodeQuotedPrintable(body) : body;
}

/**
 * A real SMTP server on 127.0.0.1 (the smtp-server package), standing in for the mail relay:
 * it accepts any recipient, requires the given login when one is given, and keeps every message.
 */
export async function startSmtpInbox(login?: { user: string; password: string }): Promise<SmtpInbox> {
  const mails: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiting: { to: string; resolve: (m: ReceivedMail) => void }[] = [];
  const take = (to: string) => {
    const mail = mails.find((m) => !taken.has(m) && m.to.includes(to));
    if (mail) taken.add(mail);
    return mail;
  };
  const server = new SMTPServer({
    // Plain SMTP on loopback: no STARTTLS offered, so the client settles for cleartext.
    disabledCommands: login ? ["STARTTLS"] : ["STARTTLS", "AUTH"],
    allowInsecureAuth: true,
    authOptional: !login,
    logger: false,
    onAuth(auth, _session, callback) {
      if (login && auth.username === login.user && auth.password === login.password) return callback(null, { user: auth.username });
      callback(new Error("invalid login"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const mail: ReceivedMail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === "string" ? session.user : undefined,
          raw,
          text: textOf(raw),
        };
        mails.push(mail);
        for (const w of waiting.splice(0)) {
          const mine = take(w.to);
          if (mine) w.resolve(mine);
          else waiting.push(w);
        }
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    mails,
    next(to, timeoutMs = 10_000) {
      const ready = take(to);
      if (ready) return Promise.resolve(ready);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no mail to ${to} within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ to, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The six-digit code and the link token of a verification email. */
export function verificationOf(mail: ReceivedMail): { code: string; token: string; link: string } {
  const code = /verification code is (\d{6})/.exec(mail.text)?.[1];
  const link = /(https?:\/\/\S+\?token=[A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
  if (!code || !link) throw new Error(`not a verification email:\n${mail.text}`);
  return { code, link, token: new URL(link).searchParams.get("token")! };
}
