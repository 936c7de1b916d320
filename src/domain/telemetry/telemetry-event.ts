import { invalidArgument, type DomainError } from "../errors.js";

export interface PostureReportInput {
  os: string;
  osVersion: string;
  diskEncrypted: boolean;
  screenLock: boolean;
  agentVersion: string;
}

/** One event as a request carries it (the handler converts the proto). */
export interface TelemetryEventInput {
  /** Shape-checked by the proto ("^[a-z][a-z0-9_.-]{0,63}$"). */
  type: string;
  /** Absent: when it was received. */
  time?: Date;
  /** Absent or "": the session's bound device, if any. */
  deviceId?: string;
  attributes?: Record<string, unknown>;
  posture?: PostureReportInput;
}

/** An event that passed the checks that need nothing but itself and the time. */
export interface CheckedEvent {
  index: number;
  type: string;
  occurredAt: Date;
  /** Lower-cased, as PostgreSQL answers uuids; null: the session's device, if any. */
  deviceId: string | null;
  attributesJson: string | null;
  posture: PostureReportInput | null;
}

export const MAX_BATCH_EVENTS = 1000;
export const MAX_ATTRIBUTES_BYTES = 4096;
export const POSTURE_EVENT = "posture";
const MAX_PAST_MS = 30 * 86_400_000;
const MAX_FUTURE_MS = 86_400_000;
/** An escaped NUL or unpaired surrogate in JSON.stringify's output (not preceded by an escaped backslash): jsonb refuses both. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const JSONB_UNSAFE_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f])/i;

/** How a request names event `i` in errors: `events[3]` in a batch, `event` for one. */
export type EventPath = (index: number) => string;

/**
 * Checks each event on its own (time window, attribute size, posture only on "posture"
 * events); the first bad one refuses the whole call, naming its index.
 */
export function checkEvents(events: TelemetryEventInput[], now: Date, path: EventPath): CheckedEvent[] {
  if (events.length === 0 || events.length > MAX_BATCH_EVENTS)
    throw invalidArgument("events", `between 1 and ${MAX_BATCH_EVENTS} events a call, got ${events.length}`);
  const earliest = now.getTime() - MAX_PAST_MS;
  const latest = now.getTime() + MAX_FUTURE_MS;
  const out = new Array<CheckedEvent>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const bad = (field: string, why: string) => eventError(path, i, field, why);
    const occurredAt = e.time ?? now;
    const t = occurredAt.getTime();
    if (Number.isNaN(t) || t < earliest || t > latest) throw bad(".time", "must be within the last 30 days and at most a day ahead");
    let attributesJson: string | null = null;
    if (e.attributes) {
      attributesJson = JSON.stringify(e.attributes);
      if (Buffer.byteLength(attributesJson, "utf8") > MAX_ATTRIBUTES_BYTES) throw bad(".attributes", `must be at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON`);
      if (attributesJson.includes("\\u") && JSONB_UNSAFE_ESCAPE.test(attributesJson))
        throw bad(".attributes", "must not hold NUL characters or unpaired surrogates");
    }
    const isPosture = e.type === POSTURE_EVENT;
    if (isPosture && !e.posture) throw bad(".posture", 'is required for a "posture" event');
    if (!isPosture && e.posture) throw bad(".posture", 'is only for "posture" events');
    if (e.posture && ![e.posture.os, e.posture.osVersion, e.posture.agentVersion].every(storableText))
      throw bad(".posture", "must not hold NUL characters or unpaired surrogates");
    out[i] = {
      index: i,
      type: e.type,
      occurredAt,
      deviceId: e.deviceId ? e.deviceId.toLowerCase() : null,
      attributesJson,
      posture: e.posture ?? null,
    };
  }
  return out;
}

/** A text column takes neither NUL nor an unpaired surrogate. */
function storableText(s: string): boolean {
  return !s.includes("\0") && !LONE_SURROGATE.test(s);
}

export function eventError(path: EventPath, index: number, field: string, why: string): DomainError {
  return invalidArgument(`${path(index)}${field}`, why, "TELEMETRY_EVENT_INVALID");
}
