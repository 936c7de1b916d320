import { describe, expect, it } from "vitest";
import { checkIamProof } from "../../src/domain/join/iam-proof.js";
import { globMatches, identityAllowed } from "../../src/domain/join/iam-rules.js";
import { parseCallerIdentity, parseErrorCode } from "../../src/domain/join/sts-response.js";

const ARN = "arn:aws:sts::111122223333:assumed-role/warden-node/i-0abc";
const xml = (result: string, root = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`) =>
  `<?xml version="1.0"?>\n${root}\n  <GetCallerIdentityResult>${result}</GetCallerIdentityResult>\n  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n</GetCallerIdentityResponse>\n`;
const fields = `\n    <Arn>${ARN}</Arn>\n    <UserId>AROAEXAMPLE:i-0abc</UserId>\n    <Account>111122223333</Account>\n  `;

describe("STS answers", () => {
  it("reads the XML and the JSON answer alike", () => {
    const identity = { account: "111122223333", arn: ARN, userId: "AROAEXAMPLE:i-0abc" };
    expect(parseCallerIdentity(xml(fields), "text/xml")).toEqual(identity);
    const json = { GetCallerIdentityResponse: { GetCallerIdentityResult: { Account: "111122223333", Arn: ARN, UserId: "AROAEXAMPLE:i-0abc" } } };
    expect(parseCallerIdentity(JSON.stringify(json), "application/json")).toEqual(identity);
  });

  it("refuses anything that is not exactly one caller identity", () => {
    const refused = [
      xml(fields + fields), // each field twice
      xml(`<Arn>${ARN}</Arn><Account>111122223333</Account>`), // no UserId
      xml(`${fields}<Extra>x</Extra>`),
      xml(`${fields}stray text`),
      xml(fields.replace("111122223333</Account>", "999988887777</Account>")), // the ARN's account is another
      xml(fields.replace("<Account>111122223333", "<Account>1111")),
      xml(fields.replace(ARN, "arn:aws:sts::111122223333:&evil;")), // an entity XML does not predefine
      xml(fields, "<SomethingElseResponse>"),
      `${xml(fields)}${xml(fields)}`,
      `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>`,
      "",
    ];
    for (const body of refused) expect(parseCallerIdentity(body, "text/xml"), body).toBeUndefined();
    expect(parseCallerIdentity("{not json", "application/json")).toBeUndefined();
    expect(
      parseCallerIdentity(
        JSON.stringify({ GetCallerIdentityResponse: { GetCallerIdentityResult: { Account: 1, Arn: ARN, UserId: "u" } } }),
        "application/json",
      ),
    ).toBeUndefined();
  });

  it("reads a refusal's error code from either format", () => {
    expect(parseErrorCode(`<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>`, "text/xml")).toBe(
      "SignatureDoesNotMatch",
    );
    expect(parseErrorCode(JSON.stringify({ Error: { Code: "Throttling" } }), "application/json")).toBe("Throttling");
    expect(parseErrorCode("<html>", "text/html")).toBe("");
  });
});

describe("ARN patterns", () => {
  it("`*` matches any run (also none, also across /); everything else is literal and the whole ARN must match", () => {
    expect(globMatches("arn:aws:sts::1:assumed-role/web-*/*", "arn:aws:sts::1:assumed-role/web-a/i-1")).toBe(true);
    expect(globMatches("arn:aws:sts::1:assumed-role/web-*", "arn:aws:sts::1:assumed-role/web-/x/y")).toBe(true);
    expect(globMatches("arn:aws:sts::1:assumed-role/web-*/*", "arn:aws:sts::1:assumed-role/db-a/i-1")).toBe(false);
    expect(globMatches("arn:aws:iam::1:user/a.b", "arn:aws:iam::1:user/aXb")).toBe(false);
    expect(globMatches("arn:aws:iam::1:user/a", "arn:aws:iam::1:user/ab")).toBe(false);
    expect(globMatches("*", "anything")).toBe(true);
    expect(globMatches("a*b*c", "aXXbYYc")).toBe(true);
    expect(globMatches("a*b*c", "aXXbYY")).toBe(false);
  });

  it("stays linear-ish on patterns that would make a regex backtrack", () => {
    const started = performance.now();
    expect(globMatches(`${"*a".repeat(200)}*b`, "a".repeat(2000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it("a rule needs the account, then the pattern (empty: any ARN of the account)", () => {
    const id = { account: "111122223333", arn: ARN, userId: "u" };
    expect(identityAllowed([{ awsAccount: "111122223333", awsArn: "" }], id)).toBe(true);
    expect(identityAllowed([{ awsAccount: "444455556666", awsArn: "" }], id)).toBe(false);
    expect(identityAllowed([{ awsAccount: "444455556666", awsArn: "*" }], id)).toBe(false);
  });
});

describe("IAM proofs, before any network call", () => {
  const now = new Date("2030-01-01T12:00:00Z");
  const good = () => ({
    headers: {
      Authorization:
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20300101/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-warden-challenge, Signature=" +
        "a".repeat(64),
      "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
      Host: "sts.amazonaws.com",
      "X-Amz-Date": "20300101T120000Z",
      "x-warden-challenge": "the-challenge",
      "User-Agent": "agent/1.0",
    } as Record<string, string>,
    body: new TextEncoder().encode("Action=GetCallerIdentity&Version=2011-06-15"),
  });
  const expectations = { challenge: "the-challenge", stsHost: "sts.amazonaws.com", now };

  it("passes on only the allowed headers", () => {
    const out = checkIamProof(good(), expectations);
    expect(Object.keys(out.headers).sort()).toEqual(["authorization", "content-type", "x-amz-date", "x-warden-challenge"]);
  });

  it("refuses each broken part with IAM_PROOF_INVALID", () => {
    const broken: [string, (p: ReturnType<typeof good>) => void][] = [
      ["no authorization", (p) => delete p.headers.Authorization],
      ["SigV4 for another service", (p) => (p.headers.Authorization = p.headers.Authorization!.replace("/sts/", "/s3/"))],
      ["a signed header not passed on", (p) => (p.headers.Authorization = p.headers.Authorization!.replace("host;", "host;user-agent;"))],
      ["a signed header missing", (p) => delete p.headers["Content-Type"]],
      ["an invalid date", (p) => (p.headers["X-Amz-Date"] = "20300231T120000Z")],
      ["a date not the scope's", (p) => (p.headers["X-Amz-Date"] = "20300102T000000Z")],
      ["a value with a newline", (p) => (p.headers["x-warden-challenge"] = "the-challenge\r\nx: y")],
      ["a body in Latin-1", (p) => (p.body = new Uint8Array([0x41, 0xe9]))],
      [
        "a wrong Content-Length",
        (p) => (
          (p.headers["Content-Length"] = "7"),
          (p.headers.Authorization = p.headers.Authorization!.replace("content-type;", "content-length;content-type;"))
        ),
      ],
    ];
    for (const [why, breakIt] of broken) {
      const p = good();
      breakIt(p);
      expect(() => checkIamProof(p, expectations), why).toThrow(expect.objectContaining({ reason: "IAM_PROOF_INVALID" }));
    }
  });
});
