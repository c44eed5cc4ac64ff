/**
 * The part of a WebSocket the SDK uses: what the browser's WebSocket and the `ws` package's
 * WebSocket (its EventTarget interface) both provide, so either can be passed in.
 */

export interface WebSocketMessageEventLike {
  /** A string for text frames (the browser and `ws` both convert). */
  readonly data: unknown;
}

export interface WebSocketCloseEventLike {
  readonly code: number;
  readonly reason: string;
}

export interface WebSocketErrorEventLike {
  /** `ws` sets it; the browser gives no detail on purpose. */
  readonly message?: string;
}

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the TCP connection at once, without the closing handshake. */
  terminate?(): void;
  addEventListener(type: "open", listener: () => void): void;
  addEventListener(type: "message", listener: (event: WebSocketMessageEventLike) => void): void;
  addEventListener(type: "close", listener: (event: WebSocketCloseEventLike) => void): void;
  addEventListener(type: "error", listener: (event: WebSocketErrorEventLike) => void): void;
}

/**
 * The browser's `new WebSocket(url)`, or `ws`'s `new WebSocket(url, protocols, { headers })`: the
 * third argument is used only with `tokenTransport: "header"`, which a browser cannot do.
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: { headers?: Record<string, string> },
) => WebSocketLike;

/** WebSocket.OPEN, the same in every implementation. */
export const OPEN = 1;
/** WebSocket.CLOSED. */
export const CLOSED = 3;
