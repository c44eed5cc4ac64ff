/**
 * nginx from Debian's package, run with the repository's own deploy/nginx.conf in front of the
 * given gateway ports: the one configuration the docs show is the one the tests run. Only the
 * listen port, the upstream servers' ports and the file paths are changed; pid, logs and temp
 * files go to a directory of its own, and it runs in the foreground (`daemon off`), so it never
 * touches the system nginx service. Fails with a clear message when the binary is missing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
export const NGINX_CONF = path.join(ROOT, "deploy/nginx.conf");

export function nginxBinary(): string {
  const candidate = process.env.NGINX_BIN ?? "/usr/sbin/nginx";
  if (existsSync(candidate)) return candidate;
  throw new Error(
    `nginx not found at ${candidate}: the load-balancer tests run a real nginx. Install Debian's package (apt-get install nginx; npm test's pretest does) or set NGINX_BIN.`,
  );
}

/** Replace `pattern` in `text`, failing when it is not there (deploy/nginx.conf changed shape). */
function substitute(text: string, pattern: RegExp, replacement: string): string {
  if (!pattern.test(text))
    throw new Error(`deploy/nginx.conf has no ${pattern}: update test/helpers/nginx.ts`);
  return text.replace(pattern, replacement);
}

/** deploy/nginx.conf with this listen port, these upstream ports and every path under `dir`. */
export function nginxConfig(options: { port: number; upstreamPorts: number[]; dir: string }): string {
  let conf = readFileSync(NGINX_CONF, "utf8");
  conf = substitute(conf, /^(\s*)listen 8080;/m, `$1listen 127.0.0.1:${options.port};`);
  // The first upstream server line, repeated once per port; the other example lines dropped.
  const server = /^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\n/gm;
  const lines = [...conf.matchAll(server)];
  const first = lines[0];
  if (first === undefined) throw new Error("deploy/nginx.conf has no upstream server line");
  const servers = options.upstreamPorts
    .map((port) => `${first[1]}server 127.0.0.1:${port}${first[2] ?? ""};\n`)
    .join("");
  conf = conf.replace(server, (line) => (line === first[0] ? servers : ""));
  conf = substitute(conf, /\/run\/nginx-gateway\.pid/, path.join(options.dir, "nginx.pid"));
  conf = substitute(conf, /\/var\/log\/nginx\//g, `${options.dir}/`);
  conf = substitute(conf, /\/var\/lib\/nginx\//g, `${options.dir}/`);
  return conf;
}

export class Nginx {
  private log = "";
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {
    child.stderr?.on("data", (chunk: Buffer) => {
      this.log += chunk.toString();
    });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  /** Start deploy/nginx.conf on a free port in front of `upstreamPorts`; resolves once it accepts. */
  static async start(upstreamPorts: number[]): Promise<Nginx> {
    const binary = nginxBinary();
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), "nginx-"));
    const confFile = path.join(dir, "nginx.conf");
    writeFileSync(confFile, nginxConfig({ port, upstreamPorts, dir }));
    // -e: the error log nginx opens before reading the configuration (else /var/log/nginx).
    const child = spawn(
      binary,
      ["-p", dir, "-c", confFile, "-e", path.join(dir, "startup-error.log"), "-g", "daemon off;"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const nginx = new Nginx(child, port, dir);
    await nginx.waitUntilListening(10_000);
    return nginx;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** nginx's error log (upstream failures, retries to the next upstream), for diagnostics. */
  errorLog(): string {
    const file = path.join(this.dir, "gateway-error.log");
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  /** Stop (SIGQUIT would wait for every WebSocket; SIGTERM is nginx's fast shutdown) and remove its files. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitUntilListening(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        await this.exited;
        throw new Error(`nginx exited before listening:\n${this.log}\n${this.errorLog()}`);
      }
      const listening = await new Promise<boolean>((resolve) => {
        const socket = connect(this.port, "127.0.0.1");
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
      if (listening) return;
      if (Date.now() > deadline) throw new Error(`nginx not listening within ${timeoutMs} ms:\n${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
