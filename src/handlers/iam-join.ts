import { ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { JoinService, RegisterUsingIAMMethodRequest } from "../../gen/warden/join/v1/join_service_pb.js";
import { kRequestId } from "../context.js";
import { DomainError, invalidArgument } from "../domain/errors.js";
import type { IamJoin } from "../domain/join/iam-join.js";
import { joinAttempt, metaOf } from "./call-context.js";

export type IamJoinMethods = Pick<ServiceImpl<typeof JoinService>, "registerUsingIAMMethod">;

export interface IamJoinHandlerOptions {
  /** How long the server waits for the node's messages, from the stream's start. */
  conversationTimeoutMs: number;
  /**
   * What the client gets for an error (the errors interceptor's conversion). An error raised
   * while a stream runs leaves past the interceptors, which return as soon as the stream opens,
   * and connect-es would send it as a bare INTERNAL.
   */
  toWireError: (err: unknown, requestId: string) => Error;
}

/**
 * RegisterUsingIAMMethod: `start` -> challenge -> `proof` -> registered, in that order and
 * nothing else. Refused tokens and proofs count against the address's join-token budget.
 */
export function iamJoinHandlers(iam: Pick<IamJoin, "begin" | "finish">, opts: IamJoinHandlerOptions): IamJoinMethods {
  return {
    async *registerUsingIAMMethod(requests, ctx) {
      const conversation = new Conversation(requests, ctx.signal, opts.conversationTimeoutMs);
      try {
        const start = await conversation.next("start");
        const challenge = await joinAttempt(ctx, () =>
          iam.begin({ token: start.token, hostname: start.hostname, addresses: start.addresses, labels: start.labels, version: start.version }),
        );
        yield { step: { case: "challenge", value: { challenge: challenge.challenge, headerName: challenge.headerName } } };
        const proof = await conversation.next("proof");
        const r = await joinAttempt(ctx, () => iam.finish(challenge, { headers: proof.headers, body: proof.body }, metaOf(ctx), ctx.signal));
        yield { step: { case: "registered", value: { agentId: r.node.id, clusterName: r.clusterName, agentToken: r.agentToken } } };
      } catch (err) {
        throw opts.toWireError(err, ctx.values.get(kRequestId));
      } finally {
        conversation.close();
      }
    },
  };
}

type Step = NonNullable<RegisterUsingIAMMethodRequest["step"]["case"]>;
type StepValue<K extends Step> = Extract<RegisterUsingIAMMethodRequest["step"], { case: K }>["value"];

/** The node's side of one conversation: each message in its turn, within the conversation's time, while the call lasts. */
class Conversation {
  private readonly messages: AsyncIterator<RegisterUsingIAMMethodRequest>;
  private readonly over: Promise<never>;
  private timer: NodeJS.Timeout | undefined;
  private onAbort: (() => void) | undefined;

  constructor(
    requests: AsyncIterable<RegisterUsingIAMMethodRequest>,
    private readonly signal: AbortSignal,
    timeoutMs: number,
  ) {
    this.messages = requests[Symbol.asyncIterator]();
    this.over = new Promise<never>((_, reject) => {
      this.timer = setTimeout(
        () => reject(new DomainError("deadline_exceeded", "DEADLINE_EXCEEDED", `the IAM join did not finish within ${Math.round(timeoutMs / 1000)} seconds`)),
        timeoutMs,
      );
      this.onAbort = () => reject(ConnectError.from(signal.reason));
      if (signal.aborted) this.onAbort();
      else signal.addEventListener("abort", this.onAbort, { once: true });
    });
    this.over.catch(() => {});
  }

  async next<K extends Step>(step: K): Promise<StepValue<K>> {
    const pending = this.messages.next();
    // Still pending when the time is up: its outcome no longer matters.
    pending.catch(() => {});
    const next = await Promise.race([pending, this.over]);
    if (next.done) throw invalidArgument("step", `the stream ended before \`${step}\``);
    if (next.value.step.case !== step) throw invalidArgument("step", `expected \`${step}\`, got \`${next.value.step.case ?? "nothing"}\``);
    return next.value.step.value as StepValue<K>;
  }

  close(): void {
    clearTimeout(this.timer);
    if (this.onAbort) this.signal.removeEventListener("abort", this.onAbort);
  }
}
