import type { Clock } from "../../clock.js";
import { randomToken } from "../../crypto/random.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { permissionDenied, unauthenticated } from "../errors.js";
import type { JoinTokenRow } from "../records.js";
import type { Ports } from "../store/transactional.js";
import { CHALLENGE_HEADER, checkIamProof, type IamProof } from "./iam-proof.js";
import { identityAllowed, type AwsIdentity } from "./iam-rules.js";
import { JoinTokens } from "./join-tokens.js";
import type { EnrollmentPorts, NodeEnrollment, Registered } from "./node-enrollment.js";
import type { StsIdentityVerifier } from "./sts-client.js";

export interface IamJoinDeps {
  store: Ports<EnrollmentPorts>;
  tokens: JoinTokens;
  enrollment: Pick<NodeEnrollment, "commit">;
  sts: StsIdentityVerifier;
  /** The configured STS endpoint's host: the one host a proof may be signed for. */
  stsHost: string;
  clock: Clock;
}

/** What the node says of itself in `start`. */
export interface IamJoinStart {
  token: string;
  hostname: string;
  addresses: string[];
  labels: Record<string, string>;
  version: string;
}

/** One conversation's state between `start` and `proof`; it lives in the stream only. */
export interface IamJoinChallenge {
  readonly challenge: string;
  readonly headerName: string;
  readonly issuedAt: Date;
  readonly start: IamJoinStart;
  readonly token: JoinTokenRow;
}

export interface IamRegistered extends Registered {
  identity: AwsIdentity;
}

/** A challenge answers one proof, within this long of being issued (the server clock's time). */
export const IAM_CHALLENGE_TTL_SECONDS = 60;

/**
 * The IAM join: a node proves an AWS identity by a signed sts:GetCallerIdentity that carries our
 * challenge in a signed header. STS checks the signature (we never see the AWS secret); the
 * challenge makes a captured request useless for any other conversation; the token's rules
 * decide which identities may join. Every local check comes before the network call, and STS
 * being unreachable refuses the join (fail closed).
 */
export class IamJoin {
  constructor(private readonly d: IamJoinDeps) {}

  /** Checks the token (an IAM one, with a use left) and issues this conversation's challenge. */
  async begin(start: IamJoinStart): Promise<IamJoinChallenge> {
    const token = await this.d.tokens.resolve(start.token);
    JoinTokens.requireMethod(token, "iam");
    return { challenge: randomToken(32), headerName: CHALLENGE_HEADER, issuedAt: this.d.clock.now(), start, token };
  }

  /**
   * Checks the proof, asks STS who signed it, checks that identity against the token's rules,
   * and registers the node (one use, under the token's row lock, like RegisterAgent).
   */
  async finish(challenge: IamJoinChallenge, proof: IamProof, meta: RequestMeta, signal?: AbortSignal): Promise<IamRegistered> {
    const now = this.d.clock.now();
    if (now.getTime() - challenge.issuedAt.getTime() > IAM_CHALLENGE_TTL_SECONDS * 1000)
      throw unauthenticated("IAM_PROOF_INVALID", "IAM proof refused: the challenge has expired");
    const request = checkIamProof(proof, { challenge: challenge.challenge, stsHost: this.d.stsHost, now });
    const identity = await this.d.sts.callerIdentity(request, signal);
    // The rules cannot be edited (only the token deleted, which the locked read below sees).
    if (!identityAllowed(challenge.token.allow, identity))
      throw permissionDenied("IAM_IDENTITY_NOT_ALLOWED", "the AWS identity that signed the request matches none of the join token's rules");
    const { start } = challenge;
    const registered = await this.d.store.transaction(async (tx) => {
      const token = await this.d.tokens.resolve(start.token, tx, { lock: true });
      return this.d.enrollment.commit(tx, token, { hostname: start.hostname, addresses: start.addresses, labels: start.labels, version: start.version }, meta, {
        aws_account: identity.account,
        aws_arn: identity.arn,
      });
    });
    return { ...registered, identity };
  }
}
