/**
 * A benchmark child process (a bench/load script under tsx) driven over IPC: ask it a command and
 * wait for its reply of a given type, bounded in time, and close it by its own handle. A child
 * that exits, or says nothing in time, fails the ask instead of hanging the benchmark.
 */
import { type ChildProcess, fork } from "node:child_process";
import os from "node:os";

const DEFAULT_REPLY_TIMEOUT_MS = 60_000;
/** After the close command, how long a child gets to exit before it is killed. */
const CLOSE_GRACE_MS = 5000;

export interface IpcChild<Command> {
  child: ChildProcess;
  ask<Reply>(command: Command, replyType: string, timeoutMs?: number): Promise<Reply>;
  /** Send `command` (the child's own close command) and wait until it has exited. */
  close(command: Command): Promise<void>;
}

/**
 * `niceness`: lower the child's priority (load workers stand for clients on other machines: on
 * the shared load core they must not delay the publisher or the broker).
 */
export function forkIpcChild<Command>(file: string, options: { niceness?: number } = {}): IpcChild<Command> {
  const child = fork(file, [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  if (options.niceness !== undefined && child.pid !== undefined) os.setPriority(child.pid, options.niceness);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    ask: <Reply>(command: Command, replyType: string, timeoutMs = DEFAULT_REPLY_TIMEOUT_MS) =>
      new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${file} (${child.pid}): no ${replyType} within ${timeoutMs} ms`));
        }, timeoutMs);
        const onMessage = (message: { type: string }) => {
          if (message.type !== replyType) return;
          cleanup();
          resolve(message as Reply);
        };
        const onExit = (code: number | null) => {
          cleanup();
          reject(new Error(`${file} exited (${code}) before its ${replyType}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          child.off("message", onMessage);
          child.off("exit", onExit);
        };
        child.on("message", onMessage);
        child.once("exit", onExit);
        child.send(command as object);
      }),
    async close(command: Command) {
      if (exited()) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      if (child.connected) child.send(command as object);
      const timer = setTimeout(() => child.kill("SIGKILL"), CLOSE_GRACE_MS);
      await gone;
      clearTimeout(timer);
    },
  };
}
