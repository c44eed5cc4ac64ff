/**
 * Who is on the other end of an upgrade request: the socket's peer address, or, when that peer is
 * a reverse proxy listed in WEBSOCKET_TRUSTED_PROXIES, the address the proxy says it forwarded.
 *
 * Behind nginx every socket comes from nginx, so WEBSOCKET_MAX_CONNECTIONS_PER_IP would count all
 * clients as one. Each proxy appends the address it received the request from to X-Forwarded-For,
 * so the header reads "client, proxy1, proxy2" and only its right end was written by proxies we
 * trust: the client address is the right-most entry that is not itself a trusted proxy. Entries to
 * the left of it were written by the client and are ignored, and so is the whole header when the
 * peer is not trusted (anyone can send one).
 */
import { BlockList, isIP } from "node:net";

/** "::ffff:127.0.0.1" (an IPv4 peer on a dual-stack socket) as the IPv4 address it is. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

export class ClientAddress {
  private readonly trusted = new BlockList();
  private readonly trustsAnyone: boolean;

  /** `proxies`: IP addresses or CIDR ranges (validated by the configuration). */
  constructor(proxies: readonly string[]) {
    this.trustsAnyone = proxies.length > 0;
    for (const entry of proxies) {
      const [address = "", prefix] = entry.split("/");
      const family = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (prefix === undefined) this.trusted.addAddress(address, family);
      else this.trusted.addSubnet(address, Number(prefix), family);
    }
  }

  /**
   * The client address of a request from `peer` with this X-Forwarded-For `header` (node joins
   * repeated headers with ", "). The peer itself when it is not a trusted proxy, or when the
   * header is missing, or when every entry in it is a trusted proxy.
   */
  of(peer: string | undefined, header: string | string[] | undefined): string {
    const address = peer === undefined ? "unknown" : unmapped(peer);
    if (!this.trustsAnyone || header === undefined || !this.isTrusted(address)) return address;
    const entries = (Array.isArray(header) ? header.join(",") : header)
      .split(",")
      .map((entry) => unmapped(entry.trim()));
    for (let index = entries.length - 1; index >= 0; index--) {
      const entry = entries[index] as string;
      // Not an address: nothing left of it can be told apart from what the client wrote.
      if (isIP(entry) === 0) return address;
      if (!this.isTrusted(entry)) return entry;
    }
    return address;
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    return this.trusted.check(address, family === 6 ? "ipv6" : "ipv4");
  }
}
