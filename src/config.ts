/**
 * Longer than 250 lines: one catalogue of every setting, each with its default and description.
 *
 * Every setting the gateway reads from the environment, with its default, in one place.
 *
 * The seed's variables keep the seed's names and defaults (`WEBSOCKET_*`); everything else is ours.
 * Keys stay the environment variable names so the code, `.env.example` and docs/configuration.md
 * (generated from this schema) read the same. A bad value stops start-up with a message naming the variable.
 */
import { z } from "zod";

/** "true"/"false" (and 1/0, yes/no) as environment variables spell booleans. */
const booleanFlag = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .pipe(z.enum(["true", "false", "1", "0", "yes", "no"], { message: "expected true/false (or 1/0, yes/no)" }))
  .transform((value) => value === "true" || value === "1" || value === "yes");

/**
 * An IPv4/IPv6 address, or a CIDR range. zod's own formats rather than node:net's isIP: the SDK
 * reaches this file (for the protocol's limits) and must run in a browser, without Node built-ins.
 */
const addressOrCidr = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()]);
const isAddressOrCidr = (entry: string): boolean => addressOrCidr.safeParse(entry).success;

const positiveSeconds = z.coerce.number().positive().finite();
const positiveInteger = z.coerce.number().int().positive();

export const configSchema = z.object({
  // --- HTTP / WebSocket listener -------------------------------------------------------------
  PORT: z.coerce.number().int().min(0).max(65535).default(8000).describe("HTTP and WebSocket port"),
  HOST: z.string().min(1).default("0.0.0.0").describe("Interface to listen on"),
  PLUGINS_DIR: z
    .string()
    .optional()
    .describe("Folder of channel plugins (one subfolder each); unset: plugins/ of this installation"),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .describe("pino log level"),

  // --- The seed's variables ------------------------------------------------------------------
  WEBSOCKET_ENABLED: booleanFlag.default(true).describe("false: /ws refuses upgrades (503), REST stays up"),
  WEBSOCKET_ALLOWED_ORIGINS: z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .describe("Comma-separated browser origins allowed to open /ws (others get 403); empty allows all"),
  WEBSOCKET_PING_INTERVAL: positiveSeconds
    .default(30)
    .describe("Seconds between protocol pings; a peer that misses one is terminated"),
  WEBSOCKET_PRICE_UPDATE_INTERVAL: positiveSeconds
    .default(3)
    .describe("Seconds between conflated price_update flushes (fractions allowed)"),
  WEBSOCKET_PORTFOLIO_UPDATE_INTERVAL: positiveSeconds
    .default(5)
    .describe("Seconds between conflated portfolio_update flushes (fractions allowed)"),
  WEBSOCKET_MAX_CONNECTIONS: positiveInteger
    .default(100)
    .describe("Maximum concurrent WebSocket connections; the one over it is closed with 1013"),

  // --- Protocol decisions beyond the seed ----------------------------------------------------
  WEBSOCKET_MAX_CONNECTIONS_PER_IP: positiveInteger
    .default(100)
    .describe(
      "Most concurrent connections from one client address (1013 over it); behind a proxy, see WEBSOCKET_TRUSTED_PROXIES",
    ),
  WEBSOCKET_TRUSTED_PROXIES: z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .refine((entries) => entries.every(isAddressOrCidr), {
      message: "expected comma-separated IP addresses or CIDR ranges (10.0.0.0/8, ::1)",
    })
    .describe(
      "Comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed: the client address is then its right-most entry that is not a trusted proxy. Empty: trust nobody (the socket's peer address)",
    ),
  WEBSOCKET_AUTO_SUBSCRIBE: booleanFlag
    .default(true)
    .describe("New clients start subscribed to every symbol of every channel (the seed's MVP)"),
  WEBSOCKET_MAX_MESSAGE_BYTES: positiveInteger
    .default(4096)
    .describe("Largest client frame accepted; a larger one closes the connection with 1009"),
  WEBSOCKET_MAX_CONNECTS_PER_SECOND: z.coerce
    .number()
    .min(0)
    .finite()
    .default(0)
    .describe(
      "New WebSocket connections accepted per second on average (token bucket refill); over it the upgrade gets 503 with Retry-After. 0: no limit",
    ),
  WEBSOCKET_CONNECTS_BURST: positiveInteger
    .default(100)
    .describe(
      "New connections accepted at once before WEBSOCKET_MAX_CONNECTS_PER_SECOND applies (token bucket size)",
    ),
  WEBSOCKET_RATE_LIMIT_PER_SECOND: positiveSeconds
    .default(20)
    .describe("Client frames per second a connection may send on average (token bucket refill rate)"),
  WEBSOCKET_RATE_LIMIT_BURST: positiveInteger
    .default(40)
    .describe("Client frames a connection may send in a burst (token bucket size); more get RATE_LIMITED"),
  WEBSOCKET_RATE_LIMIT_STRIKES: positiveInteger
    .default(100)
    .describe("Frames refused for rate in a row that close the connection with 1008 (sustained abuse)"),
  WEBSOCKET_MAX_SYMBOLS_PER_SUBSCRIBE: positiveInteger
    .default(500)
    .describe("Most symbols one subscribe/unsubscribe may list; more is answered with TOO_MANY_SYMBOLS"),
  WEBSOCKET_MAX_SYMBOLS_PER_CLIENT: positiveInteger
    .default(2000)
    .describe(
      "Most symbols one connection may hold across channels; a subscribe beyond it gets TOO_MANY_SYMBOLS",
    ),
  WEBSOCKET_MAX_CONFLATED_KEYS: positiveInteger
    .default(10_000)
    .describe(
      "Most keys (symbols, accounts) a conflated channel remembers; the least recently updated is forgotten",
    ),
  WEBSOCKET_MAX_BUFFERED_BYTES: positiveInteger
    .default(4 * 1024 * 1024)
    .describe("Bytes a client may have queued; lossless data over it disconnects the client (4001)"),
  WEBSOCKET_CONFLATED_DROP_BYTES: positiveInteger
    .default(1024 * 1024)
    .describe("Queued bytes above which conflated frames (prices, portfolio) are skipped for that client"),
  WEBSOCKET_MAX_WRITE_WINDOW_MS: z.coerce
    .number()
    .positive()
    .finite()
    .default(12)
    .describe(
      "Longest wait (ms) between socket flushes: a busy gateway waits as long as its last flush took, so that one socket write carries several frames, but no longer than this (one slow flush must not delay the next turn's frames as long again)",
    ),
  GATEWAY_TIMING: z
    .enum(["on", "off"])
    .default("on")
    .describe(
      "off: no per-stage latency timing (no latency histograms, empty GET /websocket/latency, no gw_rx/gw_tx): a benchmark switch to measure what timing costs",
    ),
  WEBSOCKET_STALE_AFTER_MS: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "Milliseconds without data after which a channel with a staleness threshold is announced stale (no_data); overrides every plugin's threshold; 0 switches staleness off",
    ),
  WEBSOCKET_MIN_INTERVAL_MS: positiveInteger
    .default(100)
    .describe("Shortest conflation interval a client may ask for with interval_ms"),
  WEBSOCKET_DEGRADE_BYTES: positiveInteger
    .optional()
    .describe(
      "Queued bytes above which a client's conflated intervals are widened (doubling at most every second); unset: a quarter of WEBSOCKET_CONFLATED_DROP_BYTES",
    ),
  WEBSOCKET_DEGRADE_MAX_FACTOR: positiveInteger
    .default(16)
    .describe(
      "Most a degraded client's conflated intervals are widened, as a factor of the interval in force",
    ),
  WEBSOCKET_CLOSE_GRACE_MS: positiveInteger
    .default(2000)
    .describe(
      "Milliseconds a closing client may take to answer the close frame before its socket is dropped",
    ),
  WEBSOCKET_HANDSHAKE_TIMEOUT_MS: positiveInteger
    .default(10_000)
    .describe(
      "Milliseconds a client may take to send its complete HTTP upgrade request; slower sockets are dropped",
    ),

  // --- Authentication (off by default: the seed's open behaviour) ----------------------------
  WEBSOCKET_AUTH: z
    .enum(["none", "jwt"])
    .default("none")
    .describe("jwt: every connection must present a valid JWT (header, token query parameter or auth frame)"),
  WEBSOCKET_JWT_SECRET: z
    .string()
    .min(32, "an HS256 secret must be at least 32 characters")
    .optional()
    .describe("HS256 shared secret (at least 32 characters); or use WEBSOCKET_JWT_PUBLIC_KEY_FILE"),
  WEBSOCKET_JWT_PUBLIC_KEY_FILE: z
    .string()
    .optional()
    .describe("PEM public key (RSA for RS256, P-256 EC for ES256) that verifies tokens"),
  WEBSOCKET_JWT_ISSUER: z.string().optional().describe("Required `iss` claim, when set"),
  WEBSOCKET_JWT_AUDIENCE: z.string().optional().describe("Required `aud` claim, when set"),
  WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT: positiveInteger
    .default(10)
    .describe(
      "With WEBSOCKET_AUTH=jwt: most open connections one token subject (sub) may have (tabs, devices); 1013 over it",
    ),
  WEBSOCKET_AUTH_TIMEOUT_MS: positiveInteger
    .default(5000)
    .describe("Milliseconds a connection without a token has to send its auth frame (else close 4408)"),

  SHUTDOWN_DRAIN_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(12_000)
    .describe(
      "On SIGTERM: milliseconds /readyz answers 503 while connections keep streaming, before clients get 1001 (covers the default reconnect spread plus WEBSOCKET_CLOSE_GRACE_MS)",
    ),
  SHUTDOWN_RECONNECT_SPREAD_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe(
      "On SIGTERM: each client gets a shutdown_notice with a reconnect time drawn from 0 to this (ms) and is closed (1001) then; clamped to SHUTDOWN_DRAIN_MS minus WEBSOCKET_CLOSE_GRACE_MS",
    ),
  SHUTDOWN_GRACE_MS: positiveInteger
    .default(10_000)
    .describe("Milliseconds closing may take after the drain before the process exits anyway"),

  // --- Upstream (NATS) -----------------------------------------------------------------------
  NATS_URL: z
    .string()
    .optional()
    .transform((value) => (value?.trim() ? value.trim() : undefined))
    .describe("Comma-separated NATS servers; unset runs the embedded demo broker with a simulated market"),
  GATEWAY_DEMO: booleanFlag
    .optional()
    .describe(
      "true: run the demo (embedded broker and simulated market) instead of NATS; `npm start` allows it when NATS_URL is unset",
    ),
  NATS_USER: z
    .string()
    .min(1)
    .optional()
    .describe("NATS user (with NATS_PASSWORD); also taken from nats://user:pass@host"),
  NATS_PASSWORD: z.string().min(1).optional().describe("NATS password for NATS_USER"),
  NATS_TOKEN: z.string().min(1).optional().describe("NATS authentication token"),
  NATS_CREDS_FILE: z
    .string()
    .min(1)
    .optional()
    .describe("NATS credentials file (user JWT and nkey seed, as nsc writes it)"),
  NATS_NKEY_SEED_FILE: z
    .string()
    .min(1)
    .optional()
    .describe("File holding the NATS user's nkey seed (SU...)"),
  NATS_TLS_CA_FILE: z
    .string()
    .min(1)
    .optional()
    .describe("PEM CA that signed the NATS servers' certificates (a private CA); implies TLS"),
  NATS_TLS_CERT_FILE: z
    .string()
    .min(1)
    .optional()
    .describe("PEM client certificate for NATS (mutual TLS), with NATS_TLS_KEY_FILE"),
  NATS_TLS_KEY_FILE: z.string().min(1).optional().describe("PEM private key of NATS_TLS_CERT_FILE"),
  NATS_RECONNECT_WAIT_MS: positiveInteger
    .default(500)
    .describe("Milliseconds between NATS reconnect attempts (it retries forever)"),
  NATS_MAX_PAYLOAD_BYTES: positiveInteger
    .default(64 * 1024)
    .describe("Largest upstream payload accepted; larger ones are counted as invalid and dropped"),

  // --- History and resume of lossless channels -----------------------------------------------
  // What they guarantee: docs/delivery-guarantees.md.
  // The default stays auto for every start (npm start, node dist/main.js, the tests, whose
  // nats-servers mostly run without JetStream): a production deployment sets required
  // (docs/operations.md and docs/delivery-guarantees.md).
  NATS_JETSTREAM: z
    .enum(["auto", "required", "off"])
    .default("auto")
    .describe(
      "auto: lossless channels' history in JetStream streams, in memory only when the NATS server definitely has no JetStream; required: JetStream or not ready; off: in-memory ring only",
    ),
  NATS_JETSTREAM_POLL_MS: positiveInteger
    .default(30_000)
    .describe(
      "With NATS_JETSTREAM=auto, lossless channels in memory ask NATS for JetStream this often (ms) and move to it (a new epoch) once it answers",
    ),
  NATS_STREAM_MAX_AGE_SECONDS: positiveInteger
    .default(86_400)
    .describe("Retention of the streams the gateway creates (seconds); older positions cannot be resumed"),
  NATS_STREAM_MAX_BYTES: positiveInteger
    .default(1024 * 1024 * 1024)
    .describe("Size limit of each stream the gateway creates (bytes); the oldest messages go first"),
  NATS_STREAM_REPLICAS: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(1)
    .describe("Replicas of each stream the gateway creates (3 on a production cluster)"),
  NATS_STREAM_DUPLICATE_WINDOW_SECONDS: positiveInteger
    .default(120)
    .describe("Messages published again with the same Nats-Msg-Id within this window are stored once"),
  NATS_REPLAY_CONSUMERS_MAX: positiveInteger
    .default(8)
    .describe(
      "Most short-lived JetStream consumers replaying history at once; further resumes wait their turn",
    ),
  NATS_REPLAY_WAIT_MS: positiveInteger
    .default(5000)
    .describe(
      "How long a resume that needs JetStream waits for the NATS link before answering upstream_unavailable",
    ),
  WEBSOCKET_MAX_REPLAY: positiveInteger
    .default(10_000)
    .describe("Most messages (counted before filtering) a resume may replay; further back: replay_limit"),
  WEBSOCKET_HISTORY_SIZE: positiveInteger
    .default(10_000)
    .describe(
      "Messages per lossless channel kept in memory for resume (the ring); older ones come from JetStream",
    ),
});

/** Settings that must agree with each other, checked after each one is valid on its own. */
const consistentConfigSchema = configSchema
  .refine((config) => config.WEBSOCKET_CONFLATED_DROP_BYTES < config.WEBSOCKET_MAX_BUFFERED_BYTES, {
    path: ["WEBSOCKET_CONFLATED_DROP_BYTES"],
    message:
      "must be below WEBSOCKET_MAX_BUFFERED_BYTES (conflated frames are dropped before anyone is disconnected)",
  })
  .refine((config) => (config.WEBSOCKET_DEGRADE_BYTES ?? 0) < config.WEBSOCKET_CONFLATED_DROP_BYTES, {
    path: ["WEBSOCKET_DEGRADE_BYTES"],
    message:
      "must be below WEBSOCKET_CONFLATED_DROP_BYTES (intervals widen before conflated frames are skipped)",
  })
  .refine((config) => (config.NATS_PASSWORD === undefined) === (config.NATS_USER === undefined), {
    path: ["NATS_PASSWORD"],
    message: "NATS_USER and NATS_PASSWORD go together",
  })
  .refine(
    (config) => (config.NATS_TLS_CERT_FILE === undefined) === (config.NATS_TLS_KEY_FILE === undefined),
    {
      path: ["NATS_TLS_CERT_FILE"],
      message: "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together",
    },
  )
  .refine(
    (config) =>
      [config.NATS_USER, config.NATS_TOKEN, config.NATS_CREDS_FILE, config.NATS_NKEY_SEED_FILE].filter(
        (value) => value !== undefined,
      ).length <= 1,
    {
      path: ["NATS_USER"],
      message:
        "use one NATS authentication: NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS_FILE or NATS_NKEY_SEED_FILE",
    },
  )
  .refine(
    (config) =>
      config.WEBSOCKET_AUTH === "none" ||
      (config.WEBSOCKET_JWT_SECRET === undefined) !== (config.WEBSOCKET_JWT_PUBLIC_KEY_FILE === undefined),
    {
      path: ["WEBSOCKET_AUTH"],
      message:
        "jwt needs exactly one of WEBSOCKET_JWT_SECRET (HS256) or WEBSOCKET_JWT_PUBLIC_KEY_FILE (RS256/ES256)",
    },
  );

export type GatewayConfig = Omit<z.output<typeof configSchema>, "WEBSOCKET_DEGRADE_BYTES"> & {
  /** Resolved: the setting, or a quarter of WEBSOCKET_CONFLATED_DROP_BYTES. */
  WEBSOCKET_DEGRADE_BYTES: number;
  /** `NATS_SUBJECT_<CHANNEL>` overrides, keyed by channel name (e.g. `price_updates`). */
  subjectOverrides: Record<string, string>;
  /** `NATS_STREAM_NAME_<CHANNEL>` overrides, keyed by channel name (e.g. `trades`). */
  streamNameOverrides: Record<string, string>;
  /**
   * Every variable set (non-empty) when the configuration was loaded: plugins read their own
   * settings from it (core/plugin-settings.ts). Holds secrets like the rest of the environment:
   * never logged or published whole.
   */
  environment: Readonly<Record<string, string>>;
};

/** Prefix of the variables that override a plugin's NATS subject: NATS_SUBJECT_PRICE_UPDATES etc. */
export const SUBJECT_OVERRIDE_PREFIX = "NATS_SUBJECT_";

/** Prefix of the variables that name the JetStream stream of a lossless channel: NATS_STREAM_NAME_TRADES. */
export const STREAM_NAME_OVERRIDE_PREFIX = "NATS_STREAM_NAME_";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parse and validate the environment. Throws a ConfigError whose message names every bad
 * variable, so start-up fails before anything listens.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  // Empty strings mean "unset" in .env files and shells alike: let the default apply.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const result = consistentConfigSchema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const variable = issue.path.join(".");
      return `${variable}=${JSON.stringify(env[variable])}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return {
    ...result.data,
    // Widen intervals well before conflated frames are skipped.
    WEBSOCKET_DEGRADE_BYTES:
      result.data.WEBSOCKET_DEGRADE_BYTES ?? Math.floor(result.data.WEBSOCKET_CONFLATED_DROP_BYTES / 4),
    subjectOverrides: overridesByChannel(present, SUBJECT_OVERRIDE_PREFIX),
    streamNameOverrides: overridesByChannel(present, STREAM_NAME_OVERRIDE_PREFIX),
    environment: present as Record<string, string>,
  };
}

/** Prefixes of the variables the gateway reads; a variable with one of them that is no setting is a typo. */
export const OWN_PREFIXES = ["WEBSOCKET_", "NATS_", "GATEWAY_"];
/** Families of per-channel variables (NATS_SUBJECT_PRICE_UPDATES, ...): the loader checks the channel. */
const PER_CHANNEL_PREFIXES = [SUBJECT_OVERRIDE_PREFIX, STREAM_NAME_OVERRIDE_PREFIX];

/** A loaded channel's name and the variables of its plugin's own settings (core/plugin-settings.ts). */
export interface PluginSettingNames {
  name: string;
  variables: readonly string[];
}

export interface UnknownSetting {
  variable: string;
  /** The known setting closest to it, when one is close enough to be a likely typo. */
  closest: string | undefined;
}

/**
 * Variables that look like settings (WEBSOCKET_*, NATS_*, GATEWAY_*, and <CHANNEL>_* of a plugin
 * with settings of its own) but are none: a misspelled setting would otherwise be ignored without
 * a word. Warned about at start-up, never fatal.
 */
export function unknownSettings(
  env: Record<string, string | undefined>,
  plugins: readonly PluginSettingNames[] = [],
): UnknownSetting[] {
  const known = [...Object.keys(configSchema.shape), ...plugins.flatMap((plugin) => plugin.variables)];
  const prefixes = [
    ...OWN_PREFIXES,
    ...plugins
      .filter((plugin) => plugin.variables.length > 0)
      .map((plugin) => `${plugin.name.toUpperCase()}_`),
  ];
  return Object.keys(env)
    .filter((variable) => prefixes.some((prefix) => variable.startsWith(prefix)))
    .filter((variable) => !known.includes(variable))
    .filter((variable) => !PER_CHANNEL_PREFIXES.some((prefix) => variable.startsWith(prefix)))
    .sort()
    .map((variable) => {
      let closest: string | undefined;
      let best = Number.POSITIVE_INFINITY;
      for (const candidate of known) {
        const distance = editDistance(variable, candidate);
        if (distance < best) {
          best = distance;
          closest = candidate;
        }
      }
      // Beyond a third of the name it is another word, not a typo.
      return {
        variable,
        closest: best <= Math.max(2, Math.floor(variable.length / 3)) ? closest : undefined,
      };
    });
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** `<PREFIX><CHANNEL>=value` variables, keyed by the channel name in lower case. */
function overridesByChannel(env: Record<string, string | undefined>, prefix: string): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(prefix) || value === undefined) continue;
    overrides[variable.slice(prefix.length).toLowerCase()] = value.trim();
  }
  return overrides;
}

/** The NATS server list from NATS_URL, or undefined for the embedded demo broker. */
export function natsServers(config: GatewayConfig): string[] | undefined {
  return config.NATS_URL?.split(",")
    .map((server) => server.trim())
    .filter(Boolean);
}

/**
 * The spread of the reconnect times in the shutdown_notice frames (SIGTERM): SHUTDOWN_RECONNECT_SPREAD_MS,
 * clamped (not refused) so that the last client, closed at its reconnect time, has
 * WEBSOCKET_CLOSE_GRACE_MS left to finish its close handshake before SHUTDOWN_DRAIN_MS ends. Clamped
 * rather than validated: a short drain must still start, and the drain is the budget the
 * orchestrator grants; main.ts logs the clamp when it happens. The defaults (12 s drain, 2 s close
 * grace) leave room for the whole default 10 s spread, so no clamp applies to them.
 */
export function reconnectSpreadMs(config: GatewayConfig): number {
  const budget = Math.max(0, config.SHUTDOWN_DRAIN_MS - config.WEBSOCKET_CLOSE_GRACE_MS);
  return Math.min(config.SHUTDOWN_RECONNECT_SPREAD_MS, budget);
}
