/**
 * When the client must stop: a close code the gateway marks terminal (CloseCodes, reconnect:
 * false), or the user's own close(). Against the real gateway; a counting clock proves that no
 * retry is left scheduled.
 */
import { describe, expect, it } from "vitest";
import { closeCodeName, GatewayClient, TERMINAL_CLOSE_CODES } from "../../src/client/node.js";
import { CloseCodes } from "../../src/core/errors.js";
import { freePort } from "../helpers/free-port.js";
import { withGateway } from "../helpers/with-gateway.js";
import { CountingClock } from "./helpers/manual-clock.js";
import { ClientRecorder } from "./helpers/recorder.js";

const stack = withGateway();

describe("terminal close codes", () => {
  it("are the gateway's codes marked reconnect: false", () => {
    const expected = Object.values(CloseCodes)
      .filter((entry) => !entry.reconnect)
      .map((entry) => entry.code);
    expect([...TERMINAL_CLOSE_CODES].sort()).toEqual(expected.sort());
    expect(TERMINAL_CLOSE_CODES.has(CloseCodes.REPLACED.code)).toBe(true);
    expect(TERMINAL_CLOSE_CODES.has(CloseCodes.GOING_AWAY.code)).toBe(false);
    // An interrupted replay is resumed from the last frame delivered: reconnect.
    expect(TERMINAL_CLOSE_CODES.has(CloseCodes.REPLAY_INTERRUPTED.code)).toBe(false);
    expect(closeCodeName(4002)).toBe("REPLAY_INTERRUPTED");
  });

  it("4000 REPLACED (a newer connection took the client_id) stops reconnection", async () => {
    const clock = new CountingClock();
    const sdk = new GatewayClient({
      url: stack.running.wsUrl,
      clientId: "sdk-dup",
      clock,
      backoff: { initialDelayMs: 10, maxDelayMs: 10 },
    });
    const events = new ClientRecorder(sdk);
    sdk.connect();
    await events.next("open");

    const newer = await stack.connect({ query: { client_id: "sdk-dup" } });
    expect(await events.next("closed")).toEqual({
      code: 4000,
      reason: "Replaced by a newer connection with the same client_id",
      willReconnect: false,
    });
    expect(sdk.state).toBe("closed");
    // Nothing scheduled: no retry timer, no keep-alive.
    expect(clock.pending).toBe(0);
    expect(events.all("reconnecting")).toEqual([]);
    // The newer connection keeps the client_id: it is still served.
    expect(await newer.drainUntilPong()).toEqual([]);
    expect(newer.closeEvent).toBeUndefined();
    expect(stack.running.gateway.endpoint.clients.size).toBe(1);
    await newer.close();
  });
});

describe("close()", () => {
  it("closes an open connection with 1000 and schedules nothing", async () => {
    const clock = new CountingClock();
    const sdk = new GatewayClient({ url: stack.running.wsUrl, clock });
    const events = new ClientRecorder(sdk);
    sdk.connect();
    await events.next("open");
    expect(clock.pending).toBeGreaterThan(0); // keep-alive and stable timers

    await sdk.close();
    expect(events.all("closed")).toEqual([{ code: 1000, reason: "Client closed", willReconnect: false }]);
    expect(sdk.state).toBe("closed");
    expect(clock.pending).toBe(0);
  });

  it("cancels a scheduled retry while the gateway is unreachable", async () => {
    const clock = new CountingClock();
    const sdk = new GatewayClient({
      url: `ws://127.0.0.1:${await freePort()}/ws`,
      clock,
      backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 1,
    });
    const events = new ClientRecorder(sdk);
    sdk.connect();
    expect(await events.next("reconnecting")).toEqual({ attempt: 1, delayMs: 60_000 });
    expect(sdk.state).toBe("reconnecting");
    expect(clock.pending).toBe(1);

    await sdk.close();
    expect(sdk.state).toBe("closed");
    expect(clock.pending).toBe(0);
    expect(events.all("closed").at(-1)).toEqual({
      code: 1000,
      reason: "Client closed",
      willReconnect: false,
    });

    // connect() starts again after a close.
    sdk.connect();
    expect(await events.next("reconnecting")).toEqual({ attempt: 1, delayMs: 60_000 });
    await sdk.close();
  });
});
