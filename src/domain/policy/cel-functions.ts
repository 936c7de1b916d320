import { celFunc, celMethod, CelScalar, objectType, type CelFunc } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { timestampDate, TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { parseCidr, parseIp, ipInCidr, type Cidr } from "./cidr.js";
import { dayOfYear, inTimeWindow, zonedParts, type ZonedParts } from "./zoned-time.js";

const { STRING, INT, BOOL } = CelScalar;
const TIMESTAMP = objectType(TimestampSchema);

/** Ranges parsed once; the cache is small and simply starts over when full. */
const cidrs = new Map<string, Cidr>();
const CIDR_CACHE_MAX = 1024;

function cidrOf(text: string): Cidr {
  let c = cidrs.get(text);
  if (c) return c;
  c = parseCidr(text);
  if (!c) throw new RangeError(`'${text.slice(0, 64)}' is not a CIDR range`);
  if (cidrs.size >= CIDR_CACHE_MAX) cidrs.clear();
  cidrs.set(text, c);
  return c;
}

const dateOf = (t: { message: unknown }) => timestampDate(t.message as Timestamp);

/** The policy helpers, by name, as the checker and the cost estimate know them. */
export const HELPER_NAMES = { ipInCidr: "ip_in_cidr", inTimeWindow: "in_time_window", weekday: "weekday" } as const;

const helpers: CelFunc[] = [
  // An unparsable address is in no range; a malformed range is an error (a literal one is refused at save).
  celFunc(HELPER_NAMES.ipInCidr, [STRING, STRING], BOOL, (ip, range) => {
    const c = cidrOf(range);
    const addr = parseIp(ip);
    return addr ? ipInCidr(addr, c) : false;
  }),
  celFunc(HELPER_NAMES.inTimeWindow, [TIMESTAMP, STRING, STRING, STRING], BOOL, (t, start, end, zone) => inTimeWindow(dateOf(t), start, end, zone)),
  celFunc(HELPER_NAMES.weekday, [TIMESTAMP, STRING], INT, (t, zone) => BigInt(zonedParts(dateOf(t), zone).weekday)),
];

/**
 * The standard timestamp accessors, replaced: @bufbuild/cel goes through a local Date of the
 * server's own time zone, which is off by an hour inside that zone's DST gap. These compute
 * from UTC fields only (UTC when no zone is given).
 */
const ACCESSORS: Record<string, (p: ZonedParts) => number> = {
  getFullYear: (p) => p.year,
  getMonth: (p) => p.month,
  getDate: (p) => p.day,
  getDayOfMonth: (p) => p.day - 1,
  getDayOfWeek: (p) => p.weekday,
  getDayOfYear: (p) => dayOfYear(p),
  getHours: (p) => p.hour,
  getMinutes: (p) => p.minute,
  getSeconds: (p) => p.second,
  getMilliseconds: (p) => p.millisecond,
};

const accessors: CelFunc[] = Object.entries(ACCESSORS).flatMap(([name, pick]) => [
  celMethod(name, TIMESTAMP, [], INT, function () {
    return BigInt(pick(zonedParts(dateOf(this), "UTC")));
  }),
  celMethod(name, TIMESTAMP, [STRING], INT, function (zone) {
    return BigInt(pick(zonedParts(dateOf(this), zone)));
  }),
]);

/** Every function a policy may call beyond the standard library: the string extension, the helpers, the fixed accessors. */
export const POLICY_FUNCTIONS: CelFunc[] = [...strings, ...helpers, ...accessors];

/** Timestamp methods whose last argument is a time zone (checked at save when it is a literal). */
export const ZONED_METHODS = new Set(Object.keys(ACCESSORS));
