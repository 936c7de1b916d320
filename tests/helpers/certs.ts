import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "./server-process.js";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The CA that signs the server certificate and the trusted client certificate. */
  ca: CertFiles;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1, serverAuth. */
  server: CertFiles;
  /** Issued by `ca`, clientAuth. */
  client: CertFiles;
  /** A CA nobody trusts, and a client certificate it issued. */
  otherCa: CertFiles;
  otherClient: CertFiles;
  /** File contents, for client options (ca, cert, key). */
  read(path: string): Buffer;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

const KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function makeCa(dir: string, name: string): CertFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl(
    [
      "req",
      "-x509",
      ...KEY_ARGS,
      "-keyout",
      files.key,
      "-out",
      files.cert,
      "-days",
      "2",
      "-subj",
      `/CN=Warden e2e ${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  return files;
}

function issue(dir: string, ca: CertFiles, name: string, cn: string, extensions: string[]): CertFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", ...extensions].join("\n") + "\n");
  openssl(["req", "-new", ...KEY_ARGS, "-keyout", files.key, "-out", csr, "-subj", `/CN=${cn}`], dir);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", files.cert, "-days", "2", "-extfile", ext], dir);
  return files;
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an untrusted CA with its own client. */
export function makeTestPki(): TestPki {
  const dir = makeTempDir("warden-pki-");
  const ca = makeCa(dir, "ca");
  const otherCa = makeCa(dir, "other-ca");
  return {
    dir,
    ca,
    server: issue(dir, ca, "server", "localhost", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
    client: issue(dir, ca, "client", "e2e-client", ["extendedKeyUsage=clientAuth"]),
    otherCa,
    otherClient: issue(dir, otherCa, "other-client", "e2e-intruder", ["extendedKeyUsage=clientAuth"]),
    read: (path) => readFileSync(path),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
