import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService, SessionRecordingMode } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { expectError } from "../helpers/expect-error.js";
import { addTotp, adminWithTotp, freshProof, signUp, type TotpMember } from "../helpers/mfa-world.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);
const seconds = (n: number) => durationFromMs(n * 1000);

describe("AdminService cluster config", () => {
  let t: TestApp;
  let admin: TotpMember;
  let dir: string;
  let publicKey: string;
  const fresh = (m: TotpMember) => freshProof(t, m);
  const update = (config: Record<string, unknown>, paths: string[], m: TotpMember = admin) =>
    t.client(AdminService).updateClusterConfig({ config, updateMask: { paths } }, m.h);
  const certificateHours = async () => {
    const r = await t.client(AuthService).issueUserCerts({ publicKey }, admin.h);
    return (timestampDate(r.validBefore!).getTime() - timestampDate(r.validAfter!).getTime()) / 3_600_000;
  };

  beforeAll(async () => {
    t = await createTestApp({ cluster_name: "prod.example", ssh_cert_max_ttl: "8h", ssh_cert_default_ttl: "8h", node_offline_after: "90s" });
    admin = await adminWithTotp(t);
    const roles = t.client(RoleService);
    const { role } = await roles.getRole({ name: "admin" }, admin.h);
    await roles.updateRole({ role: { ...role!, logins: ["ops"] } }, admin.h);
    dir = mkdtempSync(join(tmpdir(), "warden-cluster-config-"));
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    publicKey = readFileSync(join(dir, "key.pub"), "utf8");
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it("starts from the settings file's values", async () => {
    const { config } = await t.client(AdminService).getClusterConfig({}, admin.h);
    expect(config).toMatchObject({
      clusterName: "prod.example",
      sshCertMaxTtl: { seconds: 8n * 3600n },
      nodeOfflineAfter: { seconds: 90n },
      sessionRecordingMode: SessionRecordingMode.NODE,
      updatedBy: "",
    });
    expect(config!.updatedAt).toBeUndefined();
    expect(await certificateHours()).toBe(8 + 1 / 60);
  });

  it("needs an administrator, and a fresh second factor to change anything", async () => {
    const member = await addTotp(t, await signUp(t, "cluster-member"));
    await fresh(member);
    await expectError(t.client(AdminService).getClusterConfig({}, member.h), Code.PermissionDenied);
    await expectError(update({ sshCertMaxTtl: seconds(3600) }, ["ssh_cert_max_ttl"], member), Code.PermissionDenied);
    t.clock.advance(11 * 60);
    await expectError(update({ sshCertMaxTtl: seconds(3600) }, ["ssh_cert_max_ttl"]), Code.FailedPrecondition, "MFA_REQUIRED");
  });

  it("changes only the fields of the mask; new certificates follow at once; audited", async () => {
    await fresh(admin);
    const r = await update({ sshCertMaxTtl: seconds(2 * 3600), nodeOfflineAfter: seconds(5), sessionRecordingMode: SessionRecordingMode.NODE_SYNC }, [
      "ssh_cert_max_ttl",
      "session_recording_mode",
    ]);
    expect(r.config).toMatchObject({
      sshCertMaxTtl: { seconds: 7200n },
      // Not in the mask: unchanged.
      nodeOfflineAfter: { seconds: 90n },
      sessionRecordingMode: SessionRecordingMode.NODE_SYNC,
      updatedBy: admin.userId,
    });
    expect(timestampDate(r.config!.updatedAt!).getTime()).toBe(t.clock.now().getTime());
    // The default (8 h) is now over the cap: certificates get the cap.
    expect(await certificateHours()).toBe(2 + 1 / 60);
    expect((await t.client(AdminService).getClusterConfig({}, admin.h)).config).toMatchObject({
      sshCertMaxTtl: { seconds: 7200n },
      sshCertDefaultTtl: { seconds: 7200n },
    });
    const events = await t.client(AuditService).queryAuditEvents({ eventTypes: ["cluster_config.update"], pageSize: 10 }, admin.h);
    expect(events.events).toHaveLength(1);
    expect(events.events[0]!.details).toMatchObject({ ssh_cert_max_ttl: "7200", session_recording_mode: "node-sync" });
  });

  it("refuses a new cluster name, out-of-range or incoherent values, unknown fields and an empty mask, changing nothing", async () => {
    await fresh(admin);
    await expectError(update({ clusterName: "other.example" }, ["cluster_name"]), Code.FailedPrecondition, "CLUSTER_NAME_FIXED");
    await expectError(update({ sshCertMaxTtl: seconds(10) }, ["ssh_cert_max_ttl"]), Code.InvalidArgument);
    await expectError(update({ sshCertMaxTtl: durationFromMs(3_600_500) }, ["ssh_cert_max_ttl"]), Code.InvalidArgument);
    await expectError(update({}, ["agent_cert_ttl"]), Code.InvalidArgument);
    await expectError(update({ nodeHeartbeatInterval: seconds(60) }, ["node_heartbeat_interval"]), Code.InvalidArgument);
    await expectError(update({ sshCertDefaultTtl: seconds(3 * 3600) }, ["ssh_cert_default_ttl"]), Code.InvalidArgument);
    await expectError(update({ sshCertMaxTtl: seconds(3600) }, ["ssh_cert_max_ttl", "token_issuer"]), Code.InvalidArgument);
    await expectError(update({ sshCertMaxTtl: seconds(3600) }, []), Code.InvalidArgument);
    // The same name is not a change.
    await expect(update({ clusterName: "prod.example" }, ["cluster_name"])).resolves.toBeDefined();
    expect((await t.client(AdminService).getClusterConfig({}, admin.h)).config).toMatchObject({
      clusterName: "prod.example",
      sshCertMaxTtl: { seconds: 7200n },
      nodeHeartbeatInterval: { seconds: 30n },
    });
  });
});
