/**
 * NATS credentials and TLS from the settings: user and password from a URL are honoured and taken
 * out of the URL, files are read at start (an unreadable one names its variable and path), and a
 * URL is never printed with its password.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, unknownSettings } from "../../src/config.js";
import { natsEndpoint, redactUrl } from "../../src/core/ingest/nats-options.js";

describe("natsEndpoint", () => {
  it("takes user and password out of the URL and passes them as credentials", () => {
    const endpoint = natsEndpoint(
      loadConfig({ NATS_URL: "nats://gw:s3cr%40t@10.0.0.1:4222,nats://10.0.0.2:4222" }),
    );
    expect(endpoint?.servers).toEqual(["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]);
    expect(endpoint?.security).toEqual({ user: "gw", pass: "s3cr@t" });
  });

  it("prefers NATS_USER/NATS_PASSWORD, and passes a token", () => {
    expect(
      natsEndpoint(loadConfig({ NATS_URL: "nats://a:b@h:4222", NATS_USER: "u", NATS_PASSWORD: "p" }))
        ?.security,
    ).toEqual({ user: "u", pass: "p" });
    expect(natsEndpoint(loadConfig({ NATS_URL: "nats://h:4222", NATS_TOKEN: "t0k" }))?.security).toEqual({
      token: "t0k",
    });
  });

  it("reads the TLS files, and a tls:// URL alone asks for TLS", () => {
    const ca = path.join(tmpdir(), `nats-ca-${process.pid}.pem`);
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    expect(
      natsEndpoint(loadConfig({ NATS_URL: "nats://h:4222", NATS_TLS_CA_FILE: ca }))?.security.tls,
    ).toEqual({
      ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    });
    expect(natsEndpoint(loadConfig({ NATS_URL: "tls://h:4222" }))?.security.tls).toEqual({});
  });

  it("stops start-up on an unreadable file, naming the variable, the path and the reason", () => {
    const config = loadConfig({ NATS_URL: "nats://h:4222", NATS_CREDS_FILE: "/nonexistent/gw.creds" });
    expect(() => natsEndpoint(config)).toThrow(ConfigError);
    expect(() => natsEndpoint(config)).toThrow(
      /^NATS_CREDS_FILE="\/nonexistent\/gw.creds": cannot read it \(ENOENT: no such file or directory/,
    );
  });

  it("refuses two authentications at once, and half a pair", () => {
    expect(() => loadConfig({ NATS_USER: "u", NATS_PASSWORD: "p", NATS_TOKEN: "t" })).toThrow(
      /use one NATS authentication/,
    );
    expect(() => loadConfig({ NATS_USER: "u" })).toThrow(/NATS_USER and NATS_PASSWORD go together/);
    expect(() => loadConfig({ NATS_TLS_CERT_FILE: "/c.pem" })).toThrow(
      /NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together/,
    );
  });
});

describe("redactUrl", () => {
  it("hides passwords (and a lone user token) and leaves other URLs alone", () => {
    expect(redactUrl("nats://gw:s3cret@10.0.0.1:4222")).toBe("nats://gw:***@10.0.0.1:4222");
    expect(redactUrl("nats://t0ken@10.0.0.1:4222")).toBe("nats://***@10.0.0.1:4222");
    expect(redactUrl("nats://10.0.0.1:4222")).toBe("nats://10.0.0.1:4222");
    expect(redactUrl("127.0.0.1:4222")).toBe("127.0.0.1:4222");
  });
});

describe("unknownSettings", () => {
  it("names the closest known setting for a likely typo, and ignores other variables", () => {
    expect(
      unknownSettings({
        NATS_URLS: "x",
        WEBSOCKET_MAX_CONECTIONS: "5",
        GATEWAY_SOMETHING_ELSE_ENTIRELY: "1",
        NATS_SUBJECT_TRADES: "t.>",
        NATS_STREAM_NAME_TRADES: "T",
        NATS_URL: "nats://h:4222",
        HOME: "/root",
      }),
    ).toEqual([
      { variable: "GATEWAY_SOMETHING_ELSE_ENTIRELY", closest: undefined },
      { variable: "NATS_URLS", closest: "NATS_URL" },
      { variable: "WEBSOCKET_MAX_CONECTIONS", closest: "WEBSOCKET_MAX_CONNECTIONS" },
    ]);
  });
});
