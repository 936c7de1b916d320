import { generateKeyPairSync } from "node:crypto";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { RoleService } from "../gen/warden/rbac/v1/role_service_pb.js";
import { ed25519PublicKeyLine } from "../src/crypto/ssh/ssh-public-key.js";
import { callOnce, unaryOp, type Ratio, type Scenario } from "./scenarios.js";

/** The bench server's first administrator (bench/run.ts starts it with these). */
export const BENCH_ADMIN = { email: "bench-admin@bench.example.com", password: "Bench-admin-lantern-4821-quartz!" };

export const SSH_SCENARIOS: Scenario[] = [
  {
    name: "IssueUserCerts",
    measures:
      "warden.auth.v1.AuthService/IssueUserCerts with `authorization: Bearer <access JWT>` of the bench administrator (the built-in admin role given the login `bench`), for an Ed25519 public key: token, the caller's roles (cached), parsing and checking the key, one Ed25519 signature by the user CA, one audit event (`ssh.certificate.issue`, a row of the hash chain), and the certificate line.",
    where: "server",
    async prepare({ pool }) {
      const login = await callOnce(pool, AuthService.method.login, BENCH_ADMIN);
      const auth = { authorization: `Bearer ${login.accessToken}` };
      const { role } = await callOnce(pool, RoleService.method.getRole, { name: "admin" }, auth);
      await callOnce(pool, RoleService.method.updateRole, { role: { ...role!, logins: ["bench"] } }, auth);
      const publicKey = ed25519PublicKeyLine(generateKeyPairSync("ed25519").publicKey, "bench").line;
      const r = await callOnce(pool, AuthService.method.issueUserCerts, { publicKey }, auth);
      if (!r.sshCertificate.startsWith("ssh-ed25519-cert-v01@openssh.com ") || r.principals.join() !== "bench")
        throw new Error(`IssueUserCerts: unexpected answer ${JSON.stringify(r.principals)}`);
      return unaryOp(pool, AuthService.method.issueUserCerts, { publicKey }, auth);
    },
  },
];

export const SSH_RATIOS: Ratio[] = [
  {
    numerator: "IssueUserCerts",
    denominator: "HealthCheck",
    target: 0.4,
    why: "signing a user certificate (one Ed25519 signature and one audit row) should cost a few authenticated calls at most",
  },
];
