/**
 * The `gateway` command as a user runs it: the package.json bin launcher started as a child
 * process, its stdout and stderr collected line by line so that tests can await exact lines.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../../..");
export const CLI_BIN = path.join(ROOT, "src/cli/gateway.mjs");

class Lines {
  readonly lines: string[] = [];
  private partial = "";
  private consumed = 0;
  private waiters: (() => void)[] = [];

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString();
    const parts = text.split("\n");
    this.partial = parts.pop() as string;
    this.lines.push(...parts);
    this.wake();
  }

  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** The next line (after those already consumed) matching `pattern`; skipped lines are consumed. */
  async next(pattern: RegExp, exited: () => boolean, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.consumed < this.lines.length) {
        const line = this.lines[this.consumed++] as string;
        if (pattern.test(line)) return line;
      }
      const remaining = deadline - Date.now();
      if (exited() || remaining <= 0)
        throw new Error(
          `no line matching ${pattern}${exited() ? " (process exited)" : ""}; got:\n${this.lines.join("\n")}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export class CliProcess {
  readonly stdout = new Lines();
  readonly stderr = new Lines();
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => this.stdout.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => this.stderr.push(chunk));
    this.exited = new Promise((resolve) =>
      child.once("close", (code) => {
        this.exitCode = code;
        this.stdout.wake();
        this.stderr.wake();
        resolve(code);
      }),
    );
  }

  static start(args: string[], env: Record<string, string> = {}): CliProcess {
    return new CliProcess(
      spawn(process.execPath, [CLI_BIN, ...args], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  nextOut(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    return this.stdout.next(pattern, () => !this.running, timeoutMs);
  }

  nextErr(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    return this.stderr.next(pattern, () => !this.running, timeoutMs);
  }

  /** Stop it the way a user does (Ctrl-C) and return its exit status. */
  async interrupt(): Promise<number | null> {
    if (this.running) this.child.kill("SIGINT");
    return this.exited;
  }

  /** Last resort in cleanup: by PID, only this process. */
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}
