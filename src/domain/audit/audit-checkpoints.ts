import type { Logger } from "pino";
import type { Clock } from "../../clock.js";
import type { CheckpointSigner } from "../../crypto/checkpoint-signer.js";
import { DomainError } from "../errors.js";
import { decodePageToken, pageOf, pageSize } from "../pagination.js";
import type { AuditCheckpoint, AuditStore } from "../store/audit-store.js";
import type { Ports } from "../store/transactional.js";
import { GENESIS_HASH } from "./audit-event.js";

export interface AuditCheckpointsDeps {
  store: Ports<{ audit: Pick<AuditStore, "head" | "insertCheckpoint" | "checkpointsNewestFirst" | "lockCheckpoints"> }>;
  clock: Clock;
  signer: Pick<CheckpointSigner, "sign">;
  log: Pick<Logger, "info">;
}

type Head = { sequence: number; hash: string };

const vouchesFor = (c: AuditCheckpoint | undefined, head: Head) => !!c && c.sequence === head.sequence && c.hash === head.hash;

/**
 * Signed checkpoints of the chain head. Each is stored (numbered 1, 2, 3, ...) and written to
 * the log as one info line carrying its JWS, so a copy outside the database can later prove
 * that the chain up to it was not rewritten.
 */
export class AuditCheckpoints {
  constructor(private readonly d: AuditCheckpointsDeps) {}

  /** Signs the head now, unless the newest checkpoint already vouches for it (then returns that one). */
  async createNow(): Promise<AuditCheckpoint> {
    const { checkpoint } = await this.create((newest, head) => !vouchesFor(newest, head));
    return checkpoint!;
  }

  /**
   * Signs the head when it has moved since the newest checkpoint and that one is at least
   * `intervalSeconds` old (0: whenever it has moved, as at start); checked by every instance,
   * made by one.
   */
  async createIfDue(intervalSeconds: number): Promise<AuditCheckpoint | undefined> {
    const { checkpoint, made } = await this.create((newest, head) => {
      if (!newest) return head.sequence > 0;
      // A signing time in the future (an edited row) must not hold the schedule back.
      const age = this.d.clock.now().getTime() - newest.signedAt.getTime();
      return !vouchesFor(newest, head) && (age >= intervalSeconds * 1000 || age < 0);
    });
    return made ? checkpoint : undefined;
  }

  async newest(): Promise<AuditCheckpoint> {
    const [newest] = await this.d.store.audit.checkpointsNewestFirst(1);
    if (!newest) throw new DomainError("not_found", "AUDIT_CHECKPOINT_NOT_FOUND", "no audit checkpoint has been signed yet");
    return newest;
  }

  async list(req: { pageSize: number; pageToken: string }): Promise<{ items: AuditCheckpoint[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const cursor = decodePageToken<{ s: number }>(req.pageToken, ["s"]);
    return pageOf(await this.d.store.audit.checkpointsNewestFirst(size + 1, cursor?.s), size, (c) => ({ s: c.number }));
  }

  /** Under the checkpoint lock, so that two instances never take the same number. */
  private async create(due: (newest: AuditCheckpoint | undefined, head: Head) => boolean): Promise<{ checkpoint?: AuditCheckpoint; made: boolean }> {
    const { checkpoint, made } = await this.d.store.transaction(async (tx) => {
      await tx.audit.lockCheckpoints();
      const [newest] = await tx.audit.checkpointsNewestFirst(1);
      const head = (await tx.audit.head()) ?? { sequence: 0, hash: GENESIS_HASH };
      if (!due(newest, head)) return { checkpoint: newest, made: false };
      const iat = Math.floor(this.d.clock.now().getTime() / 1000);
      const number = (newest?.number ?? 0) + 1;
      const { jws, kid } = await this.d.signer.sign({ n: number, seq: head.sequence, hash: head.hash, iat });
      const next: AuditCheckpoint = { number, sequence: head.sequence, hash: head.hash, kid, signedAt: new Date(iat * 1000), jws };
      await tx.audit.insertCheckpoint(next);
      return { checkpoint: next, made: true };
    });
    if (made && checkpoint) {
      const { number, sequence, hash, kid, jws } = checkpoint;
      this.d.log.info({ auditCheckpoint: { number, sequence, hash, kid, jws } }, "audit checkpoint signed");
    }
    return { checkpoint, made };
  }
}
