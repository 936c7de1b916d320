import { encodeCertificate, randomCertificateSerial } from "../../crypto/ssh/ssh-certificate.js";
import type { SshPublicKey } from "../../crypto/ssh/ssh-public-key.js";
import type { CertificateAuthorities } from "./certificate-authorities.js";

export interface HostCertificateRequest {
  hostKey: SshPublicKey;
  /** The agent id: the key id, and a principal (so clients may address the node by it). */
  agentId: string;
  hostname: string;
  addresses: string[];
  clusterName: string;
  validAfter: Date;
  validBefore: Date;
}

/**
 * A node's OpenSSH host certificate, signed by the host CA that signs now (the new one from a
 * rotation's update_clients phase on). Principals: the hostname, the agent id and
 * `<agent id>.<cluster>`, and the node's addresses, so `ssh` with `@cert-authority` lines
 * accepts the host by any of the names it is reached at.
 */
export function issueHostCertificate(authorities: Pick<CertificateAuthorities, "signer">, req: HostCertificateRequest): { line: string; serial: bigint } {
  const ca = authorities.signer("host");
  const serial = randomCertificateSerial();
  const principals = [...new Set([req.hostname, req.agentId, `${req.agentId}.${req.clusterName}`, ...req.addresses])];
  const { line } = encodeCertificate({
    publicKey: req.hostKey,
    caPrivateKey: ca.privateKey,
    caPublicKeyBlob: ca.blob,
    certType: "host",
    keyId: `${req.agentId}.${req.clusterName}`,
    serial,
    principals,
    validAfter: req.validAfter,
    validBefore: req.validBefore,
    criticalOptions: {},
    extensions: [],
    comment: req.hostname,
  });
  return { line, serial };
}
