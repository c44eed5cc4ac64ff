/**
 * ClientAddress (WEBSOCKET_TRUSTED_PROXIES): which address a connection counts as, from its peer
 * and its X-Forwarded-For. The integration test (trusted-proxies.test.ts) shows it with real
 * sockets; these are the forms of address a socket cannot easily come from in a test.
 */
import { describe, expect, it } from "vitest";
import { ClientAddress } from "../../src/core/client-address.js";

describe("ClientAddress", () => {
  it("is the peer when nobody is trusted, whatever the header says", () => {
    expect(new ClientAddress([]).of("198.51.100.9", "203.0.113.7")).toBe("198.51.100.9");
  });

  it("is the right-most entry that is not a trusted proxy, from a trusted peer", () => {
    const address = new ClientAddress(["10.0.0.0/8", "192.0.2.1"]);
    expect(address.of("192.0.2.1", "198.51.100.1, 203.0.113.7, 10.2.3.4")).toBe("203.0.113.7");
    // Repeated headers, as node joins them or hands them over.
    expect(address.of("192.0.2.1", ["198.51.100.1", "203.0.113.7"])).toBe("203.0.113.7");
  });

  it("is the peer when the header is missing, all trusted, or not an address where it matters", () => {
    const address = new ClientAddress(["10.0.0.0/8"]);
    expect(address.of("10.0.0.1", undefined)).toBe("10.0.0.1");
    expect(address.of("10.0.0.1", "10.9.9.9, 10.0.0.2")).toBe("10.0.0.1");
    expect(address.of("10.0.0.1", "unknown")).toBe("10.0.0.1");
    // Garbage left of the proxy-written entry is the client's own and never reached.
    expect(address.of("10.0.0.1", "garbage, 203.0.113.7")).toBe("203.0.113.7");
  });

  it("reads IPv4-mapped IPv6 peers (a dual-stack listener) and entries as IPv4", () => {
    const address = new ClientAddress(["127.0.0.1"]);
    expect(address.of("::ffff:127.0.0.1", "::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(new ClientAddress([]).of("::ffff:198.51.100.9", undefined)).toBe("198.51.100.9");
  });

  it("trusts IPv6 proxies and ranges", () => {
    const address = new ClientAddress(["::1", "fd00::/8"]);
    expect(address.of("::1", "2001:db8::7, fd12::3")).toBe("2001:db8::7");
    expect(address.of("2001:db8::9", "2001:db8::7")).toBe("2001:db8::9");
  });
});
