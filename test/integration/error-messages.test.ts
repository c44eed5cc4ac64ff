/**
 * Every INVALID_MESSAGE (and UNKNOWN_MESSAGE_TYPE) error frame says what to fix: the seed's
 * "Invalid message format", then the field and the rule it broke. One case per rule, each the
 * exact frame a real client gets over a real socket from a real gateway, and the connection stays
 * open after it.
 */
import { describe, expect, it } from "vitest";
import { MANUAL_FLUSH, withGateway } from "../helpers/with-gateway.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TYPES = "one of ping, subscribe, unsubscribe, auth";

const stack = withGateway({ env: { ...MANUAL_FLUSH, WEBSOCKET_MIN_INTERVAL_MS: "100" } });

interface Case {
  rule: string;
  /** What the client sends, as text (so that malformed JSON can be sent too). */
  text: string;
  /** The `error` after "Invalid message format: ". */
  error: string;
  code?: "INVALID_MESSAGE" | "UNKNOWN_MESSAGE_TYPE";
  /** The id echoed in the error frame, when the frame had a usable one. */
  id?: string | number;
}

const subscribe = (fields: Record<string, unknown>) => JSON.stringify({ type: "subscribe", ...fields });

const cases: Case[] = [
  { rule: "not JSON", text: '{"type":"ping"', error: "the message is not valid JSON" },
  { rule: "JSON, but an array", text: '[{"type":"ping"}]', error: "the message must be a JSON object" },
  { rule: "JSON, but null", text: "null", error: "the message must be a JSON object" },
  { rule: "JSON, but a number", text: "42", error: "the message must be a JSON object" },
  { rule: "no type", text: '{"channel":"signals","id":"a"}', error: `type is required: ${TYPES}`, id: "a" },
  { rule: "type not a string", text: '{"type":7}', error: `type must be ${TYPES}` },
  {
    rule: "an unknown type",
    text: '{"type":"publish","id":"t-9"}',
    error: `unknown type "publish": type must be ${TYPES}`,
    code: "UNKNOWN_MESSAGE_TYPE",
    id: "t-9",
  },
  {
    rule: "an unknown type, too long to repeat",
    text: JSON.stringify({ type: "x".repeat(500) }),
    error: `unknown type "${"x".repeat(64)}…": type must be ${TYPES}`,
    code: "UNKNOWN_MESSAGE_TYPE",
  },
  {
    rule: "subscribe without channel",
    text: subscribe({ symbols: ["AAPL"], id: "q1" }),
    error: "channel is required (a string of 1 to 64 characters)",
    id: "q1",
  },
  {
    rule: "unsubscribe without channel",
    text: '{"type":"unsubscribe"}',
    error: "channel is required (a string of 1 to 64 characters)",
  },
  {
    rule: "an empty channel",
    text: subscribe({ channel: "" }),
    error: "channel must be a string of 1 to 64 characters",
  },
  {
    rule: "a channel that is not a string",
    text: subscribe({ channel: 7 }),
    error: "channel must be a string of 1 to 64 characters",
  },
  {
    rule: "symbols a bare string",
    text: subscribe({ channel: "signals", symbols: "AAPL", id: 3 }),
    error: 'symbols must be "*" or an array of strings',
    id: 3,
  },
  {
    rule: "symbols with a number in it",
    text: subscribe({ channel: "signals", symbols: ["AAPL", 3] }),
    error: 'symbols must be "*" or an array of strings',
  },
  {
    rule: "interval_ms below WEBSOCKET_MIN_INTERVAL_MS",
    text: subscribe({ channel: "price_updates", interval_ms: 50, id: "i1" }),
    error: "interval_ms must be an integer from 100 to 60000",
    id: "i1",
  },
  {
    rule: "interval_ms above a minute",
    text: subscribe({ channel: "price_updates", interval_ms: 60_001 }),
    error: "interval_ms must be an integer from 100 to 60000",
  },
  {
    rule: "interval_ms not an integer",
    text: subscribe({ channel: "price_updates", interval_ms: 1.5 }),
    error: "interval_ms must be an integer from 100 to 60000",
  },
  {
    rule: "interval_ms a string",
    text: subscribe({ channel: "price_updates", interval_ms: "500" }),
    error: "interval_ms must be an integer from 100 to 60000",
  },
  {
    rule: "interval_ms out of range on a state channel",
    text: subscribe({ channel: "order_books", symbols: ["AAPL"], interval_ms: 99 }),
    error: "interval_ms must be an integer from 100 to 60000",
  },
  {
    rule: "interval_ms on a lossless channel",
    text: subscribe({ channel: "trades", interval_ms: 500, id: "i2" }),
    error: "interval_ms is not allowed on trades (lossless)",
    id: "i2",
  },
  {
    rule: "since not an object",
    text: subscribe({ channel: "trades", since: 41 }),
    error: "since must be an object with seq and epoch",
  },
  {
    rule: "since.seq negative",
    text: subscribe({ channel: "trades", since: { seq: -1, epoch: "e" } }),
    error: "since.seq must be a non-negative integer",
  },
  {
    rule: "since.seq fractional",
    text: subscribe({ channel: "signals", since: { seq: 1.5, epoch: "e" } }),
    error: "since.seq must be a non-negative integer",
  },
  {
    rule: "since without epoch",
    text: subscribe({ channel: "trades", since: { seq: 1 } }),
    error: "since.epoch is required (a string of 1 to 256 characters)",
  },
  {
    rule: "since.epoch empty",
    text: subscribe({ channel: "price_updates", since: { seq: 1, epoch: "" } }),
    error: "since.epoch must be a string of 1 to 256 characters",
  },
  {
    rule: "an id that is too long (not echoed)",
    text: JSON.stringify({ type: "ping", id: "x".repeat(65) }),
    error: "id must be a string of at most 64 characters or an integer",
  },
  {
    rule: "an id that is a fraction",
    text: '{"type":"ping","id":1.5}',
    error: "id must be a string of at most 64 characters or an integer",
  },
  {
    rule: "auth without token",
    text: '{"type":"auth","id":"au"}',
    error: "token is required (a string of 1 to 3072 characters)",
    id: "au",
  },
  {
    rule: "auth with an empty token",
    text: '{"type":"auth","token":""}',
    error: "token must be a string of 1 to 3072 characters",
  },
];

function errorFrame({ error, code = "INVALID_MESSAGE", id }: Omit<Case, "rule" | "text">) {
  return {
    type: "error",
    error: `Invalid message format: ${error}`,
    code,
    timestamp: expect.stringMatching(ISO_UTC),
    ...(id === undefined ? {} : { id }),
  };
}

describe("error frames name the field and the rule it broke", () => {
  it.each(cases)("$rule", async ({ text, error, code, id }) => {
    const client = await stack.connect();
    client.send(text);
    // Exactly one reply, the error; the pong after it proves the connection is still open.
    expect(await client.drainUntilPong()).toEqual([errorFrame({ error, code, id })]);
    expect(client.closeEvent).toBeUndefined();
  });

  it("a binary frame", async () => {
    const client = await stack.connect();
    client.socket.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await client.drainUntilPong()).toEqual([
      errorFrame({ error: "binary frames are not accepted; send the JSON message as text" }),
    ]);
  });

  it("fields a frame does not define are ignored, not refused", async () => {
    const client = await stack.connect();
    client.send('{"type":"ping","id":"p","colour":"blue"}');
    expect(await client.next()).toEqual({ type: "pong", id: "p" });
  });

  it("the refused interval_ms leaves the subscription as it was", async () => {
    const client = await stack.connect();
    const ack = await client.request({ type: "subscribe", channel: "price_updates", interval_ms: 500 });
    expect(ack).toMatchObject({ type: "subscribed", interval_ms: 500 });
    const refused = await client.request(
      { type: "subscribe", channel: "price_updates", interval_ms: 50 },
      "again",
    );
    expect(refused).toEqual(
      errorFrame({ error: "interval_ms must be an integer from 100 to 60000", id: "again" }),
    );
    const kept = await client.request({ type: "subscribe", channel: "price_updates" });
    expect(kept).toMatchObject({ type: "subscribed", interval_ms: 500 });
  });
});
