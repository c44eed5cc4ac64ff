/**
 * The first moments of a connection with WEBSOCKET_AUTH=jwt, before it is a client: find its token
 * (from the upgrade request, or else its first frame within WEBSOCKET_AUTH_TIMEOUT_MS), verify it,
 * and either hand back the grant or close with a documented code.
 *
 * Refusals are close codes after the upgrade rather than HTTP 401 before it, because a browser's
 * WebSocket never shows the HTTP status of a refused upgrade; a close code it does show.
 */
import type { IncomingMessage } from "node:http";
import type { RawData, WebSocket } from "ws";
import type { CloseCodeName } from "../errors.js";
import { authFrame } from "../protocol.js";
import type { Grant } from "./grant.js";
import { TokenRejected, type TokenVerifier } from "./token-verifier.js";

export interface AuthenticatedConnection {
  grant: Grant;
  /** Frames the client sent while its token was being verified, to be handled in order next. */
  early: Array<{ data: RawData; isBinary: boolean }>;
}

export interface ConnectionAuthOptions {
  verifier: TokenVerifier;
  timeoutMs: number;
  /** Most frames kept while verifying (the rate limit's burst); a client sending more is closed. */
  maxEarlyFrames: number;
  close(name: CloseCodeName, reason: string): void;
}

/** The token of an upgrade request: `Authorization: Bearer <jwt>`, else the `token` query parameter. */
export function tokenOfRequest(request: IncomingMessage, url: URL): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match) return match[1];
  }
  return url.searchParams.get("token") ?? undefined;
}

/**
 * Resolve with the grant, or undefined after the connection has been closed (bad token, no token
 * in time, or the socket went away).
 */
export function authenticateConnection(
  ws: WebSocket,
  upgradeToken: string | undefined,
  options: ConnectionAuthOptions,
): Promise<AuthenticatedConnection | undefined> {
  const { verifier, close } = options;
  const early: AuthenticatedConnection["early"] = [];
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: AuthenticatedConnection | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.off("message", onMessage);
      ws.off("close", onClose);
      resolve(result);
    };
    const refuse = (name: CloseCodeName, reason: string) => {
      close(name, reason);
      finish(undefined);
    };
    const verify = (token: string) => {
      verifier.verify(token).then(
        (grant) => {
          // The token says whose connection this is (its subject), not which one: the client_id
          // stays the connection's own, whatever the subject.
          if (!settled) finish({ grant, early });
        },
        (error: unknown) => {
          if (settled) return;
          refuse("AUTH_FAILED", error instanceof TokenRejected ? error.message : "Token rejected");
        },
      );
    };
    let awaitingFirstFrame = upgradeToken === undefined;
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (!awaitingFirstFrame) {
        if (early.length >= options.maxEarlyFrames)
          refuse("POLICY_VIOLATION", "Too many frames before authentication");
        else early.push({ data, isBinary });
        return;
      }
      awaitingFirstFrame = false;
      const token = isBinary ? undefined : firstFrameToken(data.toString());
      if (token === undefined) {
        refuse("AUTH_FAILED", "Authentication required: send an auth frame first");
        return;
      }
      verify(token);
    };
    const onClose = () => finish(undefined);
    const timer = setTimeout(
      () => refuse("AUTH_TIMEOUT", `No token within ${options.timeoutMs} ms`),
      options.timeoutMs,
    );
    ws.on("message", onMessage);
    ws.on("close", onClose);
    if (upgradeToken !== undefined) verify(upgradeToken);
  });
}

function firstFrameToken(text: string): string | undefined {
  try {
    const frame = authFrame.safeParse(JSON.parse(text));
    return frame.success ? frame.data.token : undefined;
  } catch {
    return undefined;
  }
}
