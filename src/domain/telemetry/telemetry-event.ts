import { invalidArgument, type DomainError } from "../errors.js";
import type { NewTelemetryEvent } from "../store/telemetry-store.js";

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

/** An event that passed the checks that need nothing but itself and the time; stored as it is. */
export interface CheckedEvent extends NewTelemetryEvent {
  index: number;
  /** Lower-cased, as PostgreSQL answers uuids; null: the session's device, if any (set once known). */
  deviceId: string | null;
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
    const occurredAt = e.time ?? now;
    const attributesJson = e.attributes ? JSON.stringify(e.attributes) : null;
    const fault = faultOf(e, occurredAt.getTime(), attributesJson, earliest, latest);
    if (fault) throw eventError(path, i, fault[0], fault[1]);
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

/** What is wrong with one event: the field (after its path) and why; undefined when nothing is. */
function faultOf(e: TelemetryEventInput, t: number, attributesJson: string | null, earliest: number, latest: number): [string, string] | undefined {
  if (Number.isNaN(t) || t < earliest || t > latest) return [".time", "must be within the last 30 days and at most a day ahead"];
  if (attributesJson !== null) {
    // A UTF-16 unit is at most 3 bytes of UTF-8: short JSON needs no count.
    if (attributesJson.length * 3 > MAX_ATTRIBUTES_BYTES && Buffer.byteLength(attributesJson, "utf8") > MAX_ATTRIBUTES_BYTES)
      return [".attributes", `must be at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON`];
    if (attributesJson.includes("\\u") && JSONB_UNSAFE_ESCAPE.test(attributesJson))
      return [".attributes", "must not hold NUL characters or unpaired surrogates"];
  }
  const isPosture = e.type === POSTURE_EVENT;
  if (isPosture && !e.posture) return [".posture", 'is required for a "posture" event'];
  if (!isPosture && e.posture) return [".posture", 'is only for "posture" events'];
  if (e.posture && ![e.posture.os, e.posture.osVersion, e.posture.agentVersion].every(storableText))
    return [".posture", "must not hold NUL characters or unpaired surrogates"];
  return undefined;
}

/** A text column takes neither NUL nor an unpaired surrogate. */
function storableText(s: string): boolean {
  return !s.includes("\0") && !LONE_SURROGATE.test(s);
}

export function eventError(path: EventPath, index: number, field: string, why: string): DomainError {
  return invalidArgument(`${path(index)}${field}`, why, "TELEMETRY_EVENT_INVALID");
}
