/**
 * The gateway against NATS servers that demand credentials or TLS, each a real nats-server:
 * user and password (as settings and written into the URL), a token, an nkey, and mutual TLS with
 * a private CA made here with openssl. Each streams one frame end to end, and no secret appears in
 * a log line, the status document or /metrics. Refused credentials end the process (exit 2) with
 * the reason, instead of leaving it up and never ready.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createUser } from "@nats-io/nkeys";
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGateway, type Gateway } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import type { NatsServer } from "../helpers/nats-server.js";
import { TestClient } from "../helpers/test-client.js";
import { tsxArgs } from "../helpers/tsx-args.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SECRET = "s3cret-Pa55";
const TOKEN = "t0ken-5ecret";
const SIGNAL = { signal_type: "BUY", symbol: "AAPL", price: 1, quantity: 1, confidence: 0.5 };

// Each test starts the nats-server it needs (credentials, TLS) and a gateway on it.
const stack = withGateway({ nats: false });
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "nats-security-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function natsServer(args: string[]): Promise<NatsServer> {
  return stack.startNats({ args });
}

/** A gateway whose every log line (debug and up) is kept, to look for secrets in. */
async function gatewayWith(
  env: Record<string, string>,
): Promise<{ gateway: Gateway; url: string; logs: () => string }> {
  let logs = "";
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  const config = loadConfig({ LOG_LEVEL: "debug", ...env });
  const gateway = stack.track(await buildGateway({ config, logger: pino({ level: "debug" }, sink) }));
  await gateway.fastify.listen({ port: 0, host: "127.0.0.1" });
  const port = (gateway.fastify.server.address() as { port: number }).port;
  return { gateway, url: `127.0.0.1:${port}`, logs: () => logs };
}

function ready(gateway: Gateway): Promise<void> {
  if (gateway.broker.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("gateway did not connect to NATS")), 10_000);
    gateway.broker.onEvent((event) => {
      if (event.type === "connected") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** Connect a client, publish one signal with `publisher`, and expect the client to get it. */
async function streamsOneSignal(url: string, publisher: NatsConnection): Promise<void> {
  const client = await TestClient.connect(`ws://${url}/ws`, { record: false });
  try {
    publisher.publish("strategy.signals.security", JSON.stringify(SIGNAL));
    expect(await client.next("signal")).toMatchObject({ symbol: "AAPL", seq: 1 });
  } finally {
    await client.close();
  }
}

/** Once `gateway` is connected to NATS, one signal end to end through a publisher with `options`. */
async function streamsOneSignalThrough(
  gateway: Gateway,
  url: string,
  options: ConnectionOptions,
): Promise<void> {
  await ready(gateway);
  const publisher = await connect(options);
  await streamsOneSignal(url, publisher);
  await publisher.close();
}

/** Nothing the gateway shows or logs contains the secret. */
async function expectNoSecret(url: string, logs: string, secret: string): Promise<void> {
  const status = await (await fetch(`http://${url}/websocket/status`)).text();
  const metrics = await (await fetch(`http://${url}/metrics`)).text();
  expect(logs).not.toContain(secret);
  expect(status).not.toContain(secret);
  expect(metrics).not.toContain(secret);
}

function openssl(args: string[]): void {
  const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
}

describe("NATS authentication", () => {
  it("user and password from NATS_USER/NATS_PASSWORD", async () => {
    const nats = await natsServer(["--user", "gw", "--pass", SECRET]);
    const { gateway, url, logs } = await gatewayWith({
      NATS_URL: nats.url,
      NATS_USER: "gw",
      NATS_PASSWORD: SECRET,
    });
    await streamsOneSignalThrough(gateway, url, { servers: nats.url, user: "gw", pass: SECRET });
    await expectNoSecret(url, logs(), SECRET);
  });

  it("user and password written into NATS_URL, never printed, even while NATS is not up yet", async () => {
    const nats = await natsServer(["--user", "gw", "--pass", SECRET]);
    await nats.stop();
    const natsUrl = `nats://gw:${SECRET}@127.0.0.1:${nats.port}`;
    const { gateway, url, logs } = await gatewayWith({ NATS_URL: natsUrl, NATS_RECONNECT_WAIT_MS: "100" });
    gateway.start();
    // The first failed attempt is logged with the server, the credentials taken out of it.
    for (let attempt = 0; !logs().includes("NATS not reachable yet"); attempt++) {
      expect(attempt, "no 'NATS not reachable yet' log line").toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(logs()).toContain(`"servers":["nats://127.0.0.1:${nats.port}"]`);
    expect(logs()).not.toContain(SECRET);
    await nats.restart();
    await streamsOneSignalThrough(gateway, url, { servers: nats.url, user: "gw", pass: SECRET });
    await expectNoSecret(url, logs(), SECRET);
  });

  it("a token", async () => {
    const nats = await natsServer(["--auth", TOKEN]);
    const { gateway, url, logs } = await gatewayWith({ NATS_URL: nats.url, NATS_TOKEN: TOKEN });
    await streamsOneSignalThrough(gateway, url, { servers: nats.url, token: TOKEN });
    await expectNoSecret(url, logs(), TOKEN);
  });

  it("an nkey seed file", async () => {
    const user = createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const seedFile = path.join(dir, "gateway.nk");
    writeFileSync(seedFile, `${seed}\n`);
    const conf = path.join(dir, "nkey.conf");
    writeFileSync(conf, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    const nats = await natsServer(["-c", conf]);
    const { gateway, url, logs } = await gatewayWith({ NATS_URL: nats.url, NATS_NKEY_SEED_FILE: seedFile });
    const { nkeyAuthenticator } = await import("@nats-io/transport-node");
    await streamsOneSignalThrough(gateway, url, {
      servers: nats.url,
      authenticator: nkeyAuthenticator(user.getSeed()),
    });
    await expectNoSecret(url, logs(), seed);
  });
});

describe("NATS over TLS with a private CA", () => {
  it("mutual TLS: CA, client certificate and key from files, tls:// URL", async () => {
    openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=test-ca",
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca.pem",
    ]);
    for (const name of ["server", "client"]) {
      openssl([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${name}-key.pem`,
        "-out",
        `${name}.csr`,
      ]);
      writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=IP:127.0.0.1,DNS:localhost\n`);
      openssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        `${name}.ext`,
        "-out",
        `${name}.pem`,
      ]);
    }
    const file = (name: string) => path.join(dir, name);
    const nats = await natsServer([
      "--tls",
      "--tlscert",
      file("server.pem"),
      "--tlskey",
      file("server-key.pem"),
      "--tlscacert",
      file("ca.pem"),
      "--tlsverify",
    ]);
    const tls = { ca: file("ca.pem"), cert: file("client.pem"), key: file("client-key.pem") };
    const { gateway, url } = await gatewayWith({
      NATS_URL: `tls://127.0.0.1:${nats.port}`,
      NATS_TLS_CA_FILE: tls.ca,
      NATS_TLS_CERT_FILE: tls.cert,
      NATS_TLS_KEY_FILE: tls.key,
    });
    await streamsOneSignalThrough(gateway, url, {
      servers: `tls://127.0.0.1:${nats.port}`,
      tls: { caFile: tls.ca, certFile: tls.cert, keyFile: tls.key },
    });
  });
});

describe("refused credentials", () => {
  it("end the process with status 2 and the reason, never a gateway that is up and never ready", async () => {
    const nats = await natsServer(["--user", "gw", "--pass", SECRET]);
    const child = spawn(process.execPath, tsxArgs("src/main.ts"), {
      cwd: ROOT,
      env: {
        ...process.env,
        NATS_URL: `nats://gw:wrong-${SECRET}@127.0.0.1:${nats.port}`,
        PORT: "0",
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    for (const stream of [child.stdout, child.stderr])
      stream?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (exit) => resolve(exit)));
    clearTimeout(timer);
    expect(code).toBe(2);
    expect(output).toContain('"msg":"NATS connection closed for good"');
    expect(output).toMatch(/Authorization Violation/i);
    expect(output).not.toContain(SECRET);
  });
});
