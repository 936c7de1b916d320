import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createX509Authority, openX509Authority, type X509Authority } from "../../src/crypto/x509/x509-authority.js";
import { generateP256KeyPair, issueX509Certificate, type IssueX509Options } from "../../src/crypto/x509/x509-issue.js";
import { verifyLeafAgainstBundle, X509VerifyError, type VerifyLeafOptions, type X509VerifyReason } from "../../src/crypto/x509/x509-verify.js";

const HOUR = 3_600_000;
const now = Date.now();
const at = new Date(now);
const SPIFFE_ID = "spiffe://warden.test/ns/prod/sa/web,api"; // a comma is legal in a URI path and must survive

async function newRoot(commonName: string, pathLength: number): Promise<X509Authority> {
  const { certificatePem, privateKeyPem } = await createX509Authority({
    commonName,
    notBefore: new Date(now - 24 * HOUR),
    notAfter: new Date(now + 24 * HOUR),
    pathLength,
  });
  return openX509Authority(certificatePem, privateKeyPem);
}

type IssueOptions = Partial<Omit<IssueX509Options, "authority">>;

async function issueLeaf(authority: X509Authority, options: IssueOptions = {}): Promise<string> {
  return issueX509Certificate({
    authority,
    subjectPublicKey: generateP256KeyPair().publicKey,
    commonName: "web",
    dnsNames: ["web.prod.internal"],
    uris: [SPIFFE_ID],
    usage: "client-and-server",
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + HOUR),
    ...options,
  });
}

async function issueIntermediate(parent: X509Authority, commonName: string, options: IssueOptions = {}): Promise<X509Authority> {
  const keys = generateP256KeyPair();
  const pem = await issueLeaf(parent, { commonName, subjectPublicKey: keys.publicKey, isCa: true, dnsNames: [], uris: [], ...options });
  return openX509Authority(pem, keys.privateKey.export({ format: "pem", type: "pkcs8" }).toString());
}

function reasonOf(options: VerifyLeafOptions): X509VerifyReason {
  try {
    verifyLeafAgainstBundle(options);
  } catch (error) {
    if (error instanceof X509VerifyError) return error.reason;
    throw error;
  }
  throw new Error("verification unexpectedly passed");
}

/** Re-armours DER after a byte is changed at `index` (negative counts from the end). */
function tampered(pem: string, index: number): string {
  const der = Buffer.from(new X509Certificate(pem).raw);
  der[index < 0 ? der.length + index : index] ^= 0x01;
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`;
}

let root: X509Authority;
let intermediate: X509Authority;
let leafPem: string;
beforeAll(async () => {
  root = await newRoot("Warden test root", 1);
  intermediate = await issueIntermediate(root, "Warden test intermediate");
  leafPem = await issueLeaf(intermediate);
});

describe("verifyLeafAgainstBundle", () => {
  it("accepts leaf -> intermediate -> anchor and returns the URI SAN exactly", () => {
    const { leaf, uriSans } = verifyLeafAgainstBundle({ leafPem, intermediatesPem: [intermediate.certificatePem], bundlePem: [root.certificatePem], at });
    expect(uriSans).toEqual([SPIFFE_ID]);
    expect(leaf.subject).toBe("CN=web");
    expect(leaf.fingerprint256).toBe(new X509Certificate(leafPem).fingerprint256);
  });

  it("agrees with openssl verify on the same chain", () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-x509-verify-"));
    try {
      writeFileSync(join(dir, "root.pem"), root.certificatePem);
      writeFileSync(join(dir, "int.pem"), intermediate.certificatePem);
      writeFileSync(join(dir, "leaf.pem"), leafPem);
      const out = execFileSync("openssl", ["verify", "-CAfile", "root.pem", "-untrusted", "int.pem", "leaf.pem"], { cwd: dir, encoding: "utf8" });
      expect(out.trim()).toBe("leaf.pem: OK");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("accepts a leaf issued directly by an anchor, among unrelated anchors and intermediates", async () => {
    const stranger = await newRoot("stranger", 0);
    const direct = await issueLeaf(root, { uris: ["spiffe://warden.test/a", "spiffe://warden.test/b"], dnsNames: ["x.test"] });
    const result = verifyLeafAgainstBundle({
      leafPem: direct,
      intermediatesPem: [intermediate.certificatePem],
      bundlePem: [stranger.certificatePem, root.certificatePem],
      at,
    });
    expect(result.uriSans).toEqual(["spiffe://warden.test/a", "spiffe://warden.test/b"]);
  });

  it("returns no URI SANs for a leaf that has none", async () => {
    const plain = await issueLeaf(root, { uris: [] });
    expect(verifyLeafAgainstBundle({ leafPem: plain, bundlePem: [root.certificatePem], at }).uriSans).toEqual([]);
  });

  it("refuses an expired or not-yet-valid leaf", () => {
    const options = { leafPem, intermediatesPem: [intermediate.certificatePem], bundlePem: [root.certificatePem] };
    expect(reasonOf({ ...options, at: new Date(now + 2 * HOUR) })).toBe("expired");
    expect(reasonOf({ ...options, at: new Date(now - 2 * HOUR) })).toBe("not_yet_valid");
  });

  it("refuses a valid leaf under an expired intermediate", async () => {
    const shortLived = await issueIntermediate(root, "short-lived", { notAfter: new Date(now + 2 * HOUR) });
    const leaf = await issueLeaf(shortLived, { notAfter: new Date(now + 2 * HOUR) });
    const options = { leafPem: leaf, intermediatesPem: [shortLived.certificatePem], bundlePem: [root.certificatePem] };
    expect(() => verifyLeafAgainstBundle({ ...options, at })).not.toThrow();
    expect(reasonOf({ ...options, at: new Date(now + 2 * HOUR + 1000) })).toBe("expired");
  });

  it("refuses a chain under the wrong anchor or with the intermediate missing", async () => {
    const other = await newRoot("Warden test root", 1); // same name, different key
    expect(reasonOf({ leafPem, intermediatesPem: [intermediate.certificatePem], bundlePem: [other.certificatePem], at })).toBe("untrusted");
    expect(reasonOf({ leafPem, bundlePem: [root.certificatePem], at })).toBe("untrusted");
    expect(reasonOf({ leafPem, intermediatesPem: [intermediate.certificatePem], bundlePem: [], at })).toBe("untrusted");
  });

  it("refuses a certificate whose signature or signed content was altered", () => {
    const bundle = { intermediatesPem: [intermediate.certificatePem], bundlePem: [root.certificatePem], at };
    expect(reasonOf({ ...bundle, leafPem: tampered(leafPem, -1) })).toBe("bad_signature"); // last byte of the ECDSA s value
    const cnOffset = Buffer.from(new X509Certificate(leafPem).raw).indexOf("web.prod.internal");
    expect(reasonOf({ ...bundle, leafPem: tampered(leafPem, cnOffset) })).toBe("bad_signature");
    const badIntermediate = tampered(intermediate.certificatePem, -1);
    expect(reasonOf({ ...bundle, leafPem, intermediatesPem: [badIntermediate] })).toBe("bad_signature");
  });

  it("refuses a non-CA certificate posing as an intermediate", async () => {
    const keys = generateP256KeyPair();
    const notCa = await issueLeaf(root, { subjectPublicKey: keys.publicKey, commonName: "not a CA" });
    // Bypasses openX509Authority, which would refuse this pair.
    const impostor: X509Authority = { certificatePem: notCa, certificate: new X509Certificate(notCa), privateKey: keys.privateKey };
    const leaf = await issueLeaf(impostor);
    expect(reasonOf({ leafPem: leaf, intermediatesPem: [notCa], bundlePem: [root.certificatePem], at })).toBe("untrusted");
  });

  it("refuses a CA certificate as the leaf, and input that is not a certificate", () => {
    expect(reasonOf({ leafPem: intermediate.certificatePem, bundlePem: [root.certificatePem], at })).toBe("malformed");
    expect(reasonOf({ leafPem: "not a certificate", bundlePem: [root.certificatePem], at })).toBe("malformed");
    expect(
      reasonOf({ leafPem, intermediatesPem: ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"], bundlePem: [root.certificatePem], at }),
    ).toBe("malformed");
  });

  it("walks up to four intermediates, refuses a fifth, and passes them in any order", async () => {
    const deepRoot = await newRoot("deep root", 5);
    const chain = [deepRoot];
    for (let i = 1; i <= 5; i++) chain.push(await issueIntermediate(chain[i - 1], `level ${i}`));
    const pems = chain.slice(1).map((authority) => authority.certificatePem);

    const fourDeep = await issueLeaf(chain[4]);
    const shuffled = [pems[2], pems[0], pems[3], pems[1]];
    expect(verifyLeafAgainstBundle({ leafPem: fourDeep, intermediatesPem: shuffled, bundlePem: [deepRoot.certificatePem], at }).uriSans).toEqual([SPIFFE_ID]);

    const fiveDeep = await issueLeaf(chain[5]);
    expect(reasonOf({ leafPem: fiveDeep, intermediatesPem: pems, bundlePem: [deepRoot.certificatePem], at })).toBe("chain_too_long");
  });

  it("enforces the anchor's pathLen on an intermediate signed outside this module", async () => {
    // issueX509Certificate will not put a CA under a pathLen 0 root, so openssl builds the offending intermediate.
    const { certificatePem, privateKeyPem } = await createX509Authority({
      commonName: "strict root",
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + HOUR),
    });
    const dir = mkdtempSync(join(tmpdir(), "warden-x509-pathlen-"));
    try {
      const files = {
        "root.pem": certificatePem,
        "root.key": privateKeyPem,
        "ext.cnf": "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      run([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "int.key",
        "-out",
        "int.csr",
        "-subj",
        "/CN=rogue intermediate",
      ]);
      run([
        "x509",
        "-req",
        "-in",
        "int.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "int.pem",
      ]);
      const rogue = openX509Authority(readFileSync(join(dir, "int.pem"), "utf8"), readFileSync(join(dir, "int.key"), "utf8"));
      const leaf = await issueLeaf(rogue);
      writeFileSync(join(dir, "leaf.pem"), leaf);
      expect(() => run(["verify", "-CAfile", "root.pem", "-untrusted", "int.pem", "leaf.pem"])).toThrow(/path length constraint exceeded/);
      expect(reasonOf({ leafPem: leaf, intermediatesPem: [rogue.certificatePem], bundlePem: [certificatePem], at: new Date() })).toBe("untrusted"); // openssl dates int.pem from its own now
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
