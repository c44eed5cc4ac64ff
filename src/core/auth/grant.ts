/**
 * What a verified token allows a connection: which channels it may use and whose
 * account-scoped data it may see. With authentication off a connection has no grant and sees everything
 * (the seed's open behaviour).
 */

export interface Grant {
  /**
   * The token's `sub`: whose connection it is. Not the connection's client_id: one subject may
   * hold several connections (tabs, devices), up to WEBSOCKET_MAX_CONNECTIONS_PER_SUBJECT.
   */
  subject: string;
  /** Channels it may subscribe to; "*" when the token has no `channels` claim. */
  channels: "*" | ReadonlySet<string>;
  /** Accounts whose account-scoped data it may receive; none when the token has no `accounts` claim. */
  accounts: "*" | ReadonlySet<string>;
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
}

export function grantFromClaims(claims: {
  sub: string;
  exp: number;
  channels?: string[] | undefined;
  accounts?: string[] | undefined;
}): Grant {
  return {
    subject: claims.sub,
    channels: claims.channels === undefined || claims.channels.includes("*") ? "*" : new Set(claims.channels),
    accounts: claims.accounts?.includes("*") ? "*" : new Set(claims.accounts ?? []),
    expiresAt: claims.exp * 1000,
  };
}

export function mayUseChannel(grant: Grant | undefined, channel: string): boolean {
  return grant === undefined || grant.channels === "*" || grant.channels.has(channel);
}

/**
 * May this connection receive a message of this account? Data of no account on an account-scoped
 * channel is nobody's: with authentication on, only a grant for every account ("*") sees it.
 */
export function mayReceiveAccount(grant: Grant | undefined, account: string | undefined): boolean {
  if (grant === undefined || grant.accounts === "*") return true;
  return account !== undefined && grant.accounts.has(account);
}
