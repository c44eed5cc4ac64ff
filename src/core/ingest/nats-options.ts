/**
 * How the gateway authenticates to NATS and secures the link, from the NATS_* settings: user and
 * password (also written into a URL, which the client library would otherwise ignore), a token, a
 * creds file, an nkey seed file, and TLS with a private CA and an optional client certificate.
 *
 * Files are read once, at start: an unreadable one stops start-up with its path and the reason.
 * Secrets never reach a log line: URLs are printed through `redactUrl`.
 */
import { readFileSync } from "node:fs";
import {
  type Authenticator,
  credsAuthenticator,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { ConfigError, type GatewayConfig, natsServers } from "../../config.js";

export type NatsSecurity = Pick<NodeConnectionOptions, "user" | "pass" | "token" | "authenticator" | "tls">;

export interface NatsEndpoint {
  /** Servers without credentials in them. */
  servers: string[];
  security: NatsSecurity;
}

/** The NATS servers and how to authenticate to them, or undefined without NATS_URL (demo). */
export function natsEndpoint(config: GatewayConfig): NatsEndpoint | undefined {
  const urls = natsServers(config);
  if (!urls) return undefined;
  let fromUrl: { user: string; pass: string } | undefined;
  const servers = urls.map((url) => {
    const parsed = parseServer(url);
    if (!parsed || (parsed.username === "" && parsed.password === "")) return url;
    fromUrl ??= { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) };
    parsed.username = "";
    parsed.password = "";
    return parsed.toString().replace(/\/$/, "");
  });
  const security: NatsSecurity = {};
  if (config.NATS_USER !== undefined) {
    security.user = config.NATS_USER;
    security.pass = config.NATS_PASSWORD;
  } else if (fromUrl) {
    security.user = fromUrl.user;
    security.pass = fromUrl.pass;
  }
  if (config.NATS_TOKEN !== undefined) security.token = config.NATS_TOKEN;
  const authenticators: Authenticator[] = [];
  if (config.NATS_CREDS_FILE !== undefined)
    authenticators.push(credsAuthenticator(readSecret("NATS_CREDS_FILE", config.NATS_CREDS_FILE)));
  if (config.NATS_NKEY_SEED_FILE !== undefined) {
    const seed = new TextDecoder()
      .decode(readSecret("NATS_NKEY_SEED_FILE", config.NATS_NKEY_SEED_FILE))
      .trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  if (authenticators.length > 0) security.authenticator = authenticators;
  const wantsTls =
    config.NATS_TLS_CA_FILE !== undefined ||
    config.NATS_TLS_CERT_FILE !== undefined ||
    servers.some((server) => server.startsWith("tls://"));
  if (wantsTls) {
    security.tls = {
      ...(config.NATS_TLS_CA_FILE ? { ca: readText("NATS_TLS_CA_FILE", config.NATS_TLS_CA_FILE) } : {}),
      ...(config.NATS_TLS_CERT_FILE
        ? { cert: readText("NATS_TLS_CERT_FILE", config.NATS_TLS_CERT_FILE) }
        : {}),
      ...(config.NATS_TLS_KEY_FILE ? { key: readText("NATS_TLS_KEY_FILE", config.NATS_TLS_KEY_FILE) } : {}),
    };
  }
  return { servers, security };
}

/** A server URL fit for a log line: any password replaced by `***`. */
export function redactUrl(url: string): string {
  const parsed = parseServer(url);
  if (!parsed || (parsed.password === "" && parsed.username === "")) return url;
  if (parsed.password !== "") parsed.password = "***";
  else parsed.username = "***";
  return parsed.toString().replace(/\/$/, "");
}

/** NATS_URL entries may omit the scheme ("127.0.0.1:4222"). */
function parseServer(url: string): URL | undefined {
  try {
    return new URL(url.includes("://") ? url : `nats://${url}`);
  } catch {
    return undefined;
  }
}

function readSecret(variable: string, file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(
      `${variable}=${JSON.stringify(file)}: cannot read it (${(error as Error).message})`,
    );
  }
}

function readText(variable: string, file: string): string {
  return new TextDecoder().decode(readSecret(variable, file));
}
