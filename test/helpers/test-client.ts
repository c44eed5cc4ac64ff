/**
 * A real `ws` client that records every frame it receives, so tests can await exact frames
 * (never sleep) and later check the whole recorded conversation.
 */
import WebSocket from "ws";

export type Frame = Record<string, unknown> & { type: string };

/** Every frame any TestClient received in this test file, checked against asyncapi.yaml afterwards. */
export const recordedFrames: Frame[] = [];

export class TestClient {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private waiters: (() => void)[] = [];
  closeEvent: { code: number; reason: string } | undefined;
  private readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly socket: WebSocket,
    record: boolean,
  ) {
    socket.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      if (record) recordedFrames.push(frame);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on("close", (code, reason) => {
        this.closeEvent = { code, reason: reason.toString() };
        resolve(this.closeEvent);
        this.wake();
      });
    });
    socket.on("error", () => {});
  }

  /**
   * Connect and wait for the welcome frame. `record: false` keeps the frames out of the contract
   * check against the committed asyncapi.yaml (for gateways running other plugins).
   */
  static async connect(
    url: string,
    options: { welcome?: boolean; record?: boolean; headers?: Record<string, string> } = {},
  ): Promise<TestClient> {
    const socket = new WebSocket(url, { headers: options.headers });
    const client = new TestClient(socket, options.record !== false);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
      socket.once("unexpected-response", (_request, response) =>
        reject(
          Object.assign(new Error(`unexpected HTTP ${response.statusCode}`), {
            statusCode: response.statusCode,
          }),
        ),
      );
    });
    if (options.welcome !== false) await client.next("welcome");
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /**
   * The next frame (after those already consumed) matching `type` and `match`; frames skipped on
   * the way are consumed too. Rejects after `timeoutMs` with what was received.
   */
  async next(type?: string, match: (frame: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++] as Frame;
        if ((type === undefined || frame.type === type) && match(frame)) return frame;
      }
      if (this.closeEvent)
        throw new Error(`connection closed (${this.closeEvent.code}) while waiting for ${type ?? "a frame"}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(
          `timed out waiting for ${type ?? "a frame"}; received: ${JSON.stringify(this.frames.slice(-10))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Send a request and return its reply (matched by `id`). */
  async request(
    frame: Record<string, unknown>,
    id: string | number = Math.random().toString(36).slice(2),
  ): Promise<Frame> {
    this.send({ ...frame, id });
    return this.next(undefined, (reply) => reply.id === id);
  }

  /**
   * Frames received since the last consumed one, up to a barrier: a ping round trip proves the
   * server has written everything it owed before the pong.
   */
  async drainUntilPong(): Promise<Frame[]> {
    const id = `barrier-${Math.random().toString(36).slice(2)}`;
    const start = this.cursor;
    this.send({ type: "ping", id });
    await this.next("pong", (frame) => frame.id === id);
    return this.frames.slice(start, this.cursor - 1);
  }

  /** Wait for the connection to close and return its close code and reason. */
  waitForClose(): Promise<{ code: number; reason: string }> {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
