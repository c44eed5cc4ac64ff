/**
 * What a rolling deploy runs on: one nats-server with JetStream, gateway processes (src/main.ts)
 * on one NATS with NATS_JETSTREAM=required, and nginx with deploy/nginx.conf in front of them.
 * restart(i) does what an orchestrator does to one instance: SIGTERM, wait for the process to
 * exit (it drains first), start a new one on the same port and wait for /readyz. Used by
 * test/integration/rolling-deploy.test.ts and bench/deploy.ts.
 */
import { GatewayProcess } from "./gateway-process.js";
import { NatsServer } from "./nats-server.js";
import { Nginx } from "./nginx.js";

export interface RestartTiming {
  /** When SIGTERM was sent. */
  signalledAt: number;
  /** When the old process had exited (its drain and close were over). */
  exitedAt: number;
  /** When the new process answered /readyz 200. */
  readyAt: number;
}

export class RollingDeployStack {
  private constructor(
    readonly nats: NatsServer,
    readonly gateways: GatewayProcess[],
    readonly nginx: Nginx,
    private readonly env: Record<string, string>,
  ) {}

  /** `instances` gateways with `env` (over NATS_URL and NATS_JETSTREAM=required), behind nginx. */
  static async start(env: Record<string, string>, instances = 2): Promise<RollingDeployStack> {
    const nats = await NatsServer.start({ jetstream: true });
    const fullEnv = { NATS_URL: nats.url, NATS_JETSTREAM: "required", ...env };
    try {
      const gateways = await Promise.all(
        Array.from({ length: instances }, (_, index) =>
          GatewayProcess.start(fullEnv, { name: `gateway-${"ABCDEFGH"[index]}`, readyTimeoutMs: 30_000 }),
        ),
      );
      const nginx = await Nginx.start(gateways.map((gateway) => gateway.port));
      return new RollingDeployStack(nats, gateways, nginx, fullEnv);
    } catch (error) {
      await nats.remove();
      throw error;
    }
  }

  /** SIGTERM instance `index`, wait until it has exited, start it again on its port, wait for /readyz. */
  async restart(index: number): Promise<RestartTiming> {
    const old = this.gateways[index];
    if (old === undefined) throw new Error(`no gateway ${index}`);
    const signalledAt = Date.now();
    const exit = await old.kill("SIGTERM");
    const exitedAt = Date.now();
    if (exit.code !== 0) throw new Error(`${old.name} exited with ${JSON.stringify(exit)}:\n${old.tail()}`);
    this.gateways[index] = await GatewayProcess.start(this.env, {
      port: old.port,
      name: old.name,
      readyTimeoutMs: 30_000,
    });
    return { signalledAt, exitedAt, readyAt: Date.now() };
  }

  async stop(): Promise<void> {
    await this.nginx.stop();
    await Promise.all(this.gateways.map((gateway) => gateway.kill("SIGKILL")));
    await this.nats.remove();
  }
}
