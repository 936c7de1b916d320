import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { PolicyInputSchema } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { DomainError } from "../../src/domain/errors.js";
import { parseCidr, parseIp, ipInCidr } from "../../src/domain/policy/cidr.js";
import { CelCompiler } from "../../src/domain/policy/cel-compiler.js";
import { inTimeWindow, zonedParts } from "../../src/domain/policy/zoned-time.js";

const compiler = new CelCompiler({ costLimit: 100_000 });

function input(init: Omit<MessageInitShape<typeof PolicyInputSchema>, "$typeName"> = {}) {
  return create(PolicyInputSchema, {
    user: { id: "u-1", email: "ada@example.com", roles: ["auditor"], orgRole: "member", mfaEnrolled: true },
    organization: { id: "o-1", tier: "enterprise" },
    session: { authMethods: ["pwd", "mfa"], mfa: true, mfaAgeSeconds: 120n, ageSeconds: 600n },
    request: { ip: "10.1.2.3", time: timestampFromDate(new Date("2024-07-01T10:00:00Z")), userAgent: "test", method: "/x.Y/Z" },
    ...init,
  });
}

const at = (iso: string, ip = "10.1.2.3") => input({ request: { ip, time: timestampFromDate(new Date(iso)) } });

/** The compiled condition's answer: true/false, or "error: <message>". */
function run(source: string, i = input()): boolean | string {
  const r = compiler.compile(source).evaluate(i);
  return r.ok ? r.value : `error: ${r.error}`;
}

/** The compile error's message, or "ok". */
function compileError(source: string, c = compiler): string {
  try {
    c.compile(source);
    return "ok";
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).reason).toBe("POLICY_INVALID");
    expect((err as DomainError).kind).toBe("invalid_argument");
    return (err as DomainError).message;
  }
}

describe("compiling CEL policies at save", () => {
  it("names line and column of undeclared references, unknown fields and bad overloads", () => {
    expect(compileError("user.id != '' && usr.id == 'x'")).toBe("line 1, column 18: undeclared reference to 'usr'");
    expect(compileError("user.id == 'x' &&\n  user.nope")).toMatch(/^line 2, column 7: undefined field 'nope' of warden\.policy\.v1\.PolicyUser$/);
    expect(compileError("user.roles.size() == 'two'")).toMatch(/^line 1, column \d+: found no matching overload for '==' applied to '\(int, string\)'$/);
    expect(compileError("nope(1)")).toBe("line 1, column 1: undeclared reference to 'nope'");
    expect(compileError("user.email.frobnicate()")).toMatch(/^line 1, column 11: undeclared reference to 'frobnicate'/);
    expect(compileError("user.email.startsWith(1)")).toMatch(/no matching overload for 'startsWith' applied to 'string\.\(int\)'/);
  });

  it("reports syntax errors with their position", () => {
    expect(compileError("user.id == 'x' &&& true")).toMatch(/^line 1, column 16: syntax error: found & but expecting end of input$/);
    expect(compileError("user.id == 'x' ||\n  user.email == 'a' 'b'")).toBe("line 2, column 21: syntax error: found ' but expecting end of input");
    expect(compileError("(".repeat(2000) + "true" + ")".repeat(2000))).toMatch(/^line 1, column 1: the expression is nested too deeply$/);
  });

  it("requires a bool", () => {
    expect(compileError("user.roles")).toMatch(/the condition must be a bool, not list\(string\)$/);
    expect(compileError("session.age_seconds + 1")).toMatch(/must be a bool, not int$/);
    expect(compileError("dyn(true)")).toMatch(/must be a bool, not dyn$/);
    expect(compileError("user.mfa_enrolled")).toBe("ok");
  });

  it("refuses message construction and unsupported macros", () => {
    expect(compileError("warden.policy.v1.PolicyUser{id: 'x'}.id == 'x'")).toMatch(/creating messages .* is not supported/);
    expect(compileError("has(user)")).toMatch(/undeclared reference to 'has'|no matching overload/);
  });

  it("checks literal arguments that could only fail at run time", () => {
    expect(compileError("ip_in_cidr(request.ip, '10.0.0.0/33')")).toMatch(/^line 1, column 24: '10\.0\.0\.0\/33' is not a CIDR range/);
    expect(compileError("ip_in_cidr(request.ip, '2001:db8::/129')")).toMatch(/is not a CIDR range/);
    expect(compileError("ip_in_cidr(request.ip, '10.0.0.0')")).toMatch(/is not a CIDR range/);
    expect(compileError("in_time_window(request.time, '9:00', '17:00', 'UTC')")).toMatch(/start '9:00' is not HH:MM/);
    expect(compileError("in_time_window(request.time, '09:00', '25:00', 'UTC')")).toMatch(/end '25:00' is not HH:MM/);
    expect(compileError("in_time_window(request.time, '09:00', '09:00', 'UTC')")).toMatch(/the window is empty/);
    expect(compileError("in_time_window(request.time, '09:00', '17:00', 'Mars/Olympus')")).toBe("line 1, column 48: unknown time zone 'Mars/Olympus'");
    expect(compileError("weekday(request.time, 'Nowhere') == 1")).toMatch(/unknown time zone 'Nowhere'/);
    expect(compileError("request.time.getHours('Nowhere') == 1")).toMatch(/unknown time zone 'Nowhere'/);
    expect(compileError("user.email.matches('[a-')")).toMatch(/invalid regular expression/);
    expect(compileError("request.time > timestamp('yesterday')")).toMatch(/invalid timestamp 'yesterday'/);
    expect(compileError("duration('forever') > duration('1s')")).toMatch(/invalid duration 'forever'/);
  });

  it("refuses a static cost past the limit, and the limit is the setting", () => {
    const nested = "user.roles.exists(a, user.roles.exists(b, user.roles.exists(c, a + b + c == 'x')))";
    expect(compileError(nested)).toMatch(/^line 1, column 11: estimated cost \d+ exceeds the limit of 100000 \(policy_cel_cost_limit\)/);
    const twoLevels = "user.roles.exists(a, user.roles.exists(b, a == 'x' && b == 'y'))";
    expect(compileError(twoLevels)).toBe("ok");
    expect(compileError(twoLevels, new CelCompiler({ costLimit: 1000 }))).toMatch(/estimated cost \d+ exceeds the limit of 1000/);
    // Literal sizes count: a long literal list costs more than a short one.
    const list = (n: number) => `user.email in [${Array.from({ length: n }, (_, i) => `'u${i}@example.com'`).join(", ")}]`;
    expect(compiler.compile(list(200)).cost).toBeGreaterThan(compiler.compile(list(2)).cost * 50);
    expect(compileError(`user.roles.all(r, r.matches('${"a".repeat(200)}'))`)).toMatch(/exceeds the limit/);
  });
});

describe("evaluating CEL policies", () => {
  it("reads every part of the input", () => {
    expect(run("user.org_role == 'member' && 'auditor' in user.roles && user.mfa_enrolled")).toBe(true);
    expect(run("organization.tier == 'enterprise' && organization.id == 'o-1'")).toBe(true);
    expect(run("session.mfa && session.mfa_age_seconds < 300 && 'mfa' in session.auth_methods")).toBe(true);
    expect(run("!device.registered && !device.trusted && !device.posture.known")).toBe(true);
    expect(run("request.method.startsWith('/x.') && request.user_agent == 'test'")).toBe(true);
    expect(run("user.roles.exists(r, r.startsWith('aud')) && user.email.lowerAscii().endsWith('@example.com')")).toBe(true);
  });

  it("matches IPv4 and IPv6 ranges; an unparsable address is in none", () => {
    const inRange = (ip: string, cidr: string) => run(`ip_in_cidr(request.ip, '${cidr}')`, at("2024-07-01T10:00:00Z", ip));
    expect(inRange("10.1.2.3", "10.0.0.0/8")).toBe(true);
    expect(inRange("11.1.2.3", "10.0.0.0/8")).toBe(false);
    expect(inRange("192.168.1.77", "192.168.1.64/26")).toBe(true);
    expect(inRange("192.168.1.128", "192.168.1.64/26")).toBe(false);
    expect(inRange("203.0.113.9", "0.0.0.0/0")).toBe(true);
    expect(inRange("2001:db8:1::5", "2001:db8::/32")).toBe(true);
    expect(inRange("2001:db9::1", "2001:db8::/32")).toBe(false);
    expect(inRange("::1", "::1/128")).toBe(true);
    expect(inRange("fe80::1:2", "fe80::/10")).toBe(true);
    // An IPv4-mapped address matches IPv4 ranges; the families never mix otherwise.
    expect(inRange("::ffff:10.0.0.7", "10.0.0.0/8")).toBe(true);
    expect(inRange("10.0.0.7", "::/0")).toBe(false);
    expect(inRange("2001:db8::1", "0.0.0.0/0")).toBe(false);
    for (const bad of ["", "not-an-ip", "10.0.0", "10.0.0.256", "010.0.0.1", "1::2::3", "fe80::1%eth0", "10.0.0.1/8"])
      expect(inRange(bad, "0.0.0.0/0"), bad).toBe(false);
    // A range that is only known at run time and is malformed is an error, not a silent false.
    expect(run("ip_in_cidr(request.ip, user.email)")).toMatch(/^error: 'ada@example.com' is not a CIDR range/);
  });

  it("parses addresses and ranges strictly", () => {
    expect([...parseIp("2001:db8::ffff:1.2.3.4")!]).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    expect(parseIp("1:2:3:4:5:6:7:8:9")).toBeUndefined();
    expect(parseIp("::")).toHaveLength(16);
    expect(parseCidr("10.0.0.0/08")).toBeUndefined();
    expect(ipInCidr(parseIp("10.255.0.1")!, parseCidr("10.1.2.3/8")!)).toBe(true);
  });

  it("tells time of day in a zone, windows across midnight included", () => {
    const berlinOffice = "in_time_window(request.time, '09:00', '17:30', 'Europe/Berlin')";
    expect(run(berlinOffice, at("2024-07-01T06:59:00Z"))).toBe(false); // 08:59 CEST
    expect(run(berlinOffice, at("2024-07-01T07:00:00Z"))).toBe(true); // 09:00
    expect(run(berlinOffice, at("2024-07-01T15:29:59Z"))).toBe(true); // 17:29:59
    expect(run(berlinOffice, at("2024-07-01T15:30:00Z"))).toBe(false); // 17:30, the end is exclusive
    expect(run(berlinOffice, at("2024-01-15T15:30:00Z"))).toBe(true); // 16:30 CET in winter
    const night = "in_time_window(request.time, '22:00', '06:00', 'America/New_York')";
    expect(run(night, at("2024-07-02T02:30:00Z"))).toBe(true); // 22:30 EDT
    expect(run(night, at("2024-07-02T09:59:00Z"))).toBe(true); // 05:59
    expect(run(night, at("2024-07-02T10:00:00Z"))).toBe(false); // 06:00
    expect(run(night, at("2024-07-01T20:00:00Z"))).toBe(false); // 16:00
    expect(run("in_time_window(request.time, '00:00', '24:00', 'Asia/Kolkata')")).toBe(true);
    expect(inTimeWindow(new Date("2024-07-01T18:45:00Z"), "00:00", "00:30", "Asia/Kolkata")).toBe(true); // 00:15 IST
  });

  it("follows DST: the same UTC hour is another local hour in winter and summer", () => {
    const nineInNewYork = "request.time.getHours('America/New_York') == 9";
    expect(run(nineInNewYork, at("2024-01-15T14:30:00Z"))).toBe(true); // EST, UTC-5
    expect(run(nineInNewYork, at("2024-07-15T13:30:00Z"))).toBe(true); // EDT, UTC-4
    expect(run(nineInNewYork, at("2024-07-15T14:30:00Z"))).toBe(false);
    // The night Berlin moves its clocks forward: 01:59:59 CET is followed by 03:00 CEST.
    expect(zonedParts(new Date("2024-03-31T00:59:59Z"), "Europe/Berlin")).toMatchObject({ hour: 1, minute: 59 });
    expect(zonedParts(new Date("2024-03-31T01:00:00Z"), "Europe/Berlin")).toMatchObject({ hour: 3, minute: 0 });
    expect(run("in_time_window(request.time, '02:00', '03:00', 'Europe/Berlin')", at("2024-03-31T01:30:00Z"))).toBe(false);
    expect(run("in_time_window(request.time, '02:00', '03:00', 'Europe/Berlin')", at("2024-10-27T00:30:00Z"))).toBe(true); // 02:30 CEST, before falling back
  });

  it("gives weekdays 0 (Sunday) to 6 in the zone", () => {
    // 2024-07-06 is a Saturday; at 23:30 UTC it is already Sunday in Berlin and still Saturday in New York.
    expect(run("weekday(request.time, 'Europe/Berlin') == 0", at("2024-07-06T23:30:00Z"))).toBe(true);
    expect(run("weekday(request.time, 'America/New_York') == 6", at("2024-07-06T23:30:00Z"))).toBe(true);
    expect(run("weekday(request.time, 'UTC') == request.time.getDayOfWeek()", at("2024-07-03T12:00:00Z"))).toBe(true);
    expect(run("request.time.getDayOfWeek('Europe/Berlin') == 0", at("2024-07-06T23:30:00Z"))).toBe(true);
  });

  describe("timestamp accessors with a zone, whatever the server's own zone", () => {
    const saved = process.env.TZ;
    afterEach(() => {
      process.env.TZ = saved;
    });

    it("timestamp.getHours(zone) and friends are right inside the server zone's DST gap", () => {
      // @bufbuild/cel's own accessors go through a local Date: at 02:30 on this night Berlin has no such hour.
      process.env.TZ = "Europe/Berlin";
      const t = at("2024-03-31T02:30:00Z");
      expect(run("request.time.getHours('UTC') == 2 && request.time.getMinutes('UTC') == 30", t)).toBe(true);
      expect(run("request.time.getHours() == 2", t)).toBe(true);
      expect(run("request.time.getHours('Europe/Berlin') == 4", t)).toBe(true);
      expect(run("request.time.getFullYear('Pacific/Kiritimati') == 2024 && request.time.getMonth('UTC') == 2 && request.time.getDate('UTC') == 31", t)).toBe(
        true,
      );
      expect(run("request.time.getDayOfYear('UTC') == 90 && request.time.getDayOfMonth('UTC') == 30", t)).toBe(true);
      expect(run("request.time.getHours('+05:30') == 8 && request.time.getMinutes('-02:00') == 30", t)).toBe(true);
    });
  });

  it("fails at run time, never silently, for missing keys, overflow and zones known only then", () => {
    expect(run("{'admin': true}[user.org_role]")).toMatch(/^error: .*member/);
    expect(run("session.age_seconds + 9223372036854775807 > 0")).toMatch(/^error: int overflow/);
    expect(run("in_time_window(request.time, '09:00', '17:00', user.email)")).toBe("error: unknown time zone 'ada@example.com'");
    expect(run("weekday(request.time, user.org_role) == 1")).toBe("error: unknown time zone 'member'");
    expect(run("user.roles[5] == 'x'")).toMatch(/^error: /);
    expect(run("1 / (session.age_seconds - 600) == 0")).toMatch(/^error: .*divi/i);
  });

  it("reads an absent part as its empty message", () => {
    const bare = create(PolicyInputSchema, {});
    expect(compiler.compile("user.id == '' && !device.trusted && request.ip == '' && session.age_seconds == 0").evaluate(bare)).toEqual({
      ok: true,
      value: true,
    });
  });
});
