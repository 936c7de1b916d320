/** A notification channel as stored (the secret sealed). */
export interface NotificationChannelRecord {
  id: string;
  name: string;
  webhookUrl: string;
  eventTypes: string[];
  disabled: boolean;
  secretSealed: string;
  createdBy: string;
  createdAt: Date;
}

/** A delivery a worker claimed, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  eventType: string;
  payload: Record<string, unknown>;
  attempts: number;
  webhookUrl: string;
  secretSealed: string;
}

/** What an attempt ended with: the HTTP status (none on a network fault) and a short excerpt. */
export interface AttemptResult {
  status: number | null;
  error: string | null;
}

/** Channels and their outbox (notification_channels, notification_deliveries). */
export interface NotificationStore {
  createChannel(row: Omit<NotificationChannelRecord, "id">): Promise<NotificationChannelRecord>;
  listChannels(limit: number, after?: { createdAt: Date; id: string }): Promise<NotificationChannelRecord[]>;
  /** Disables it and ends its pending deliveries as failed; undefined when there is no such channel. */
  disableChannel(id: string, now: Date): Promise<NotificationChannelRecord | undefined>;
  /** Deletes it and (cascade) every delivery of it. */
  deleteChannel(id: string): Promise<NotificationChannelRecord | undefined>;
  /**
   * Claims up to `limit` pending deliveries due at `now` of enabled channels (FOR UPDATE SKIP
   * LOCKED, so each goes to one instance), counting the attempt and moving next_attempt_at to
   * `leaseUntil`: an instance that dies mid-attempt leaves it to be retried then.
   */
  claimDue(now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]>;
  markDelivered(id: string, result: AttemptResult, now: Date): Promise<void>;
  markRetry(id: string, result: AttemptResult, nextAttemptAt: Date): Promise<void>;
  markFailed(id: string, result: AttemptResult, now: Date): Promise<void>;
  /** Removes deliveries finished before `before`. */
  purgeFinished(before: Date): Promise<number>;
}
