/** Calendar fields of an instant as seen in a time zone. */
export interface ZonedParts {
  year: number;
  /** 0 = January. */
  month: number;
  /** 1..31. */
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
  /** 0 = Sunday .. 6 = Saturday. */
  weekday: number;
}

const FIXED_OFFSET = /^([+-]?)(\d\d):(\d\d)$/;
/** Formatters by zone name; only zones Intl accepted get here, and there are a few hundred of them. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The formatter of an IANA zone (or "UTC"); undefined when Intl does not know the zone. */
function formatterOf(zone: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(zone);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  } catch {
    return undefined;
  }
  formatters.set(zone, f);
  return f;
}

/** Whether a zone is an IANA name Intl knows, "UTC", or a fixed offset "+05:30" (as CEL allows). */
export function isKnownZone(zone: string): boolean {
  return FIXED_OFFSET.test(zone) || formatterOf(zone) !== undefined;
}

/**
 * Recent answers: one decision asks about the same instant in the same zone from several
 * policies, and formatting is the costly part. Small, and simply started over when full.
 */
const recent = new Map<string, ZonedParts>();
const RECENT_MAX = 256;

/**
 * The calendar fields of an instant in a zone, computed from UTC fields alone: never through
 * the process's own time zone (a local Date in a DST gap of the server's zone would shift by
 * an hour). Throws for an unknown zone.
 */
export function zonedParts(at: Date, zone: string): ZonedParts {
  const key = `${at.getTime()} ${zone}`;
  let parts = recent.get(key);
  if (!parts) {
    parts = computeZonedParts(at, zone);
    if (recent.size >= RECENT_MAX) recent.clear();
    recent.set(key, parts);
  }
  return parts;
}

function computeZonedParts(at: Date, zone: string): ZonedParts {
  const fixed = FIXED_OFFSET.exec(zone);
  if (fixed) {
    const offsetMs = (fixed[1] === "-" ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000;
    return utcParts(new Date(at.getTime() + offsetMs));
  }
  const f = formatterOf(zone);
  if (!f) throw new RangeError(`unknown time zone '${zone}'`);
  const fields: Record<string, number> = {};
  for (const part of f.formatToParts(at)) if (part.type !== "literal") fields[part.type] = Number(part.value);
  // The wall-clock fields as if they were UTC: weekday and day of year then follow from them.
  const wall = new Date(Date.UTC(fields.year!, fields.month! - 1, fields.day!, fields.hour!, fields.minute!, fields.second!, at.getUTCMilliseconds()));
  return utcParts(wall);
}

function utcParts(d: Date): ZonedParts {
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth(),
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
    weekday: d.getUTCDay(),
  };
}

/** 0-based day of the year of zoned parts. */
export function dayOfYear(p: ZonedParts): number {
  return Math.round((Date.UTC(p.year, p.month, p.day) - Date.UTC(p.year, 0, 1)) / 86_400_000);
}

const CLOCK_TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes since midnight of "HH:MM" (00:00..23:59, or 24:00 as an end); undefined when malformed. */
export function minutesOf(hhmm: string): number | undefined {
  if (hhmm === "24:00") return 1440;
  const m = CLOCK_TIME.exec(hhmm);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/**
 * Whether the local time of day in `zone` is in [start, end). A window whose end comes before
 * its start crosses midnight ("22:00".."06:00"); start == end is empty.
 */
export function inTimeWindow(at: Date, start: string, end: string, zone: string): boolean {
  const from = minutesOf(start);
  const to = minutesOf(end);
  if (from === undefined || from === 1440) throw new RangeError(`start '${start}' is not HH:MM`);
  if (to === undefined) throw new RangeError(`end '${end}' is not HH:MM`);
  const p = zonedParts(at, zone);
  const now = p.hour * 60 + p.minute;
  return from <= to ? now >= from && now < to : now >= from || now < to;
}
