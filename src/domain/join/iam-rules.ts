/** The identity STS vouched for. */
export interface AwsIdentity {
  account: string;
  arn: string;
  userId: string;
}

/** A rule of an IAM join token: an account and, optionally, an ARN pattern (`*` matches any run of characters). */
export interface IamRule {
  awsAccount: string;
  awsArn: string;
}

/** Whether any of the token's rules admits the identity: same account, and an ARN the pattern matches (an empty pattern admits any ARN of the account). */
export function identityAllowed(rules: readonly IamRule[], identity: AwsIdentity): boolean {
  return rules.some((rule) => rule.awsAccount === identity.account && (rule.awsArn === "" || globMatches(rule.awsArn, identity.arn)));
}

/**
 * The whole text must match; everything but `*` is literal. The classic two-pointer walk that
 * backs up only to the last `*`: at most pattern x text steps, where a regex of many `.*` could
 * backtrack far longer.
 */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}
