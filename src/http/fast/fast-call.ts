import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { LightHeaders, type NodeRequestHeaders } from "./light-headers.js";

/**
 * One unary call on the fast path: what connect-es's HandlerContext holds, without what the call
 * does not use. The abort signal is made only when something reads it (most unary handlers
 * never do) or when the call has a deadline; until then an abort is remembered, so a signal made
 * later starts aborted. The call is never aborted "because it ended": connect-es does that with
 * a DOMException per call, and nothing is listening by then.
 */
export class FastCall implements HandlerContext {
  readonly responseHeader: LightHeaders;
  readonly responseTrailer = new LightHeaders();
  readonly protocolName: string;
  private controller: AbortController | undefined;
  private abortedWith: unknown = undefined;
  private aborted = false;
  private deadlineAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onShutdown: (() => void) | undefined;

  constructor(
    readonly method: DescMethod,
    readonly requestHeader: NodeRequestHeaders,
    readonly values: ContextValues,
    /** The URL's parts; the URL is made only if someone asks for it. */
    private readonly origin: { secure: boolean; authority: string | undefined; path: string },
    protocolName: string,
    responseContentType: string,
    private readonly shutdown: AbortSignal,
    timeoutMs: number | undefined,
  ) {
    this.protocolName = protocolName;
    this.responseHeader = new LightHeaders([["content-type", responseContentType]]);
    if (shutdown.aborted) this.abort(shutdown.reason);
    if (timeoutMs !== undefined) {
      this.deadlineAt = Date.now() + timeoutMs;
      // Made now: the deadline interceptor listens to it.
      void this.signal;
      // A deadline already passed aborts the call at once, as connect-es's deadline signal does.
      if (timeoutMs <= 0) this.abort(deadlinePassed());
      else this.timer = setTimeout(() => this.abort(deadlinePassed()), timeoutMs);
    }
  }

  get url(): string {
    return `${this.origin.secure ? "https" : "http"}://${this.origin.authority ?? "localhost"}${this.origin.path}`;
  }

  get service(): DescService {
    return this.method.parent;
  }

  get requestMethod(): string {
    return "POST";
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortedWith);
      else if (!this.shutdown.aborted) {
        this.onShutdown = () => this.abort(this.shutdown.reason);
        this.shutdown.addEventListener("abort", this.onShutdown, { once: true });
      }
    }
    return this.controller.signal;
  }

  timeoutMs(): number | undefined {
    return this.deadlineAt === undefined ? undefined : this.deadlineAt - Date.now();
  }

  /** The client went away, the deadline passed or the server shuts down. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortedWith = reason ?? new ConnectError("operation was aborted via signal", Code.Canceled);
    this.controller?.abort(this.abortedWith);
    this.release();
  }

  /** The call is over: its timer and shutdown listener go. */
  release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.onShutdown) this.shutdown.removeEventListener("abort", this.onShutdown);
    this.onShutdown = undefined;
  }
}

function deadlinePassed(): ConnectError {
  return new ConnectError("the operation timed out", Code.DeadlineExceeded);
}
