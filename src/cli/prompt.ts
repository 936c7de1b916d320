import { createInterface, type Interface } from "node:readline";
import { CliError } from "./errors.js";

/** Asks the person at the terminal; reads lines from stdin when it is not one (scripts, tests). */
export interface Prompter {
  line(question: string): Promise<string>;
  /** Like line, without echo on a terminal. */
  secret(question: string): Promise<string>;
  close(): void;
}

export interface PromptStreams {
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WritableStream;
}

/** Prompts go to stderr so that stdout (e.g. --json) stays clean. */
export function createPrompter(io: PromptStreams): Prompter {
  return io.stdin.isTTY ? terminalPrompter(io) : pipedPrompter(io);
}

/** One reader for the whole run: a password and a TOTP code come as consecutive lines. */
function pipedPrompter({ stdin, stderr }: PromptStreams): Prompter {
  let reader: Interface | undefined;
  let lines: AsyncIterator<string> | undefined;
  const next = async (question: string): Promise<string> => {
    stderr.write(`${question}\n`);
    reader ??= createInterface({ input: stdin, crlfDelay: Infinity });
    lines ??= reader[Symbol.asyncIterator]();
    const { value, done } = await lines.next();
    if (done) throw new CliError(`no answer to "${question}" on stdin`);
    return value;
  };
  return { line: next, secret: next, close: () => reader?.close() };
}

function terminalPrompter({ stdin, stderr }: PromptStreams): Prompter {
  return {
    async line(question) {
      const rl = createInterface({ input: stdin, output: stderr });
      try {
        return await new Promise<string>((resolve) => rl.question(`${question} `, resolve));
      } finally {
        rl.close();
      }
    },
    secret: (question) => readHidden(stdin, stderr, `${question} `),
    close() {},
  };
}

/** Raw mode, so that nothing typed is echoed; Enter ends, Backspace erases, Ctrl-C and Ctrl-D give up. */
function readHidden(stdin: NodeJS.ReadStream, stderr: NodeJS.WritableStream, question: string): Promise<string> {
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed: string[] = [];
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") {
          finish();
          return resolve(typed.join(""));
        }
        if (ch === "\u0003" || (ch === "\u0004" && typed.length === 0)) {
          finish();
          return reject(new CliError("cancelled"));
        }
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else if (ch >= " ") typed.push(ch);
      }
    };
    stdin.on("data", onData);
  });
}
