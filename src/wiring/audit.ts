import { CheckpointSigner } from "../crypto/checkpoint-signer.js";
import { SigningKeyArchive } from "../crypto/signing-key-archive.js";
import { AgentAuditEvents } from "../domain/audit/agent-audit-events.js";
import { ArchiveVerifier } from "../domain/audit/archive-verifier.js";
import { AuditArchiver } from "../domain/audit/audit-archiver.js";
import { AuditCheckpoints } from "../domain/audit/audit-checkpoints.js";
import { ChainVerifier } from "../domain/audit/chain-verifier.js";
import type { AuditParts } from "../handlers/audit.js";
import type { Core } from "./core.js";

/** Checkpoints are looked for every minute, as key rotation is; audit_checkpoint_interval says when one is due. */
const TICK_MS = 60_000;

export interface CheckpointSchedule {
  /** Signs the head if it moved since the newest checkpoint, then keeps signing on schedule. */
  start(): Promise<void>;
  stop(): void;
}

/** The audit chain's verifier, its signed checkpoints and the schedule that makes them, agents' events, archiving. */
export function wireAudit(core: Core): AuditParts & { schedule: CheckpointSchedule } {
  const { store, clock, config, log } = core;
  // Checkpoints are signed with the token key, and stay verifiable after the key retires.
  const archive = new SigningKeyArchive(store, core.box, () => core.keys.signingKey());
  const signer = new CheckpointSigner(core.keys, archive, config.token_issuer);
  const checkpoints = new AuditCheckpoints({ store, clock, signer, log });
  const verifier = new ChainVerifier({ store, keys: core.auditChainKeys, signer });
  const agentEvents = new AgentAuditEvents({ audit: core.audit, clock });
  const archiver = new AuditArchiver({ store, audit: core.audit, keys: core.auditChainKeys, signer, clock, maxBytes: config.max_message_bytes });
  const archiveVerifier = new ArchiveVerifier({ store, keys: core.auditChainKeys, signer });

  let timer: NodeJS.Timeout | undefined;
  const failed = (when: string) => (err: Error) => log.error({ err: { message: err?.message } }, `audit checkpoint ${when} failed`);
  const schedule: CheckpointSchedule = {
    async start() {
      await checkpoints.createIfDue(0).catch(failed("at start"));
      timer = setInterval(() => void checkpoints.createIfDue(config.audit_checkpoint_interval).catch(failed("on schedule")), TICK_MS);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
  return { verifier, checkpoints, agentEvents, archiver, archiveVerifier, schedule };
}
