/**
 * JWT verification for WEBSOCKET_AUTH=jwt, with `jose` (no hand-written crypto).
 *
 * The key decides the algorithm and nothing else does: an HS256 secret accepts only HS256, an RSA
 * public key only RS256, a P-256 key only ES256. A token cannot pick its own algorithm ("none",
 * or HS256 signed with the public key as secret).
 */
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { errors as joseErrors, jwtVerify } from "jose";
import { z } from "zod";
import type { GatewayConfig } from "../../config.js";
import { ConfigError } from "../../config.js";
import { CLIENT_ID_PATTERN } from "../protocol.js";
import { type Grant, grantFromClaims } from "./grant.js";

/** Claims the gateway reads; anything else in the token is ignored. */
const gatewayClaims = z.object({
  sub: z.string().regex(CLIENT_ID_PATTERN, "sub must be a valid client_id (1 to 64 of A-Z a-z 0-9 . _ : -)"),
  // Bounded so that every expiry is a valid date (year 9999 at most): `exp: 1e13` must not throw later.
  exp: z.number().int().positive().max(253_402_300_799),
  channels: z.array(z.string().max(64)).max(256).optional(),
  accounts: z.array(z.string().max(64)).max(1024).optional(),
});

/** Why a token was refused, in words safe to send to the client (no key material, no claims). */
export class TokenRejected extends Error {
  override name = "TokenRejected";
}

export class TokenVerifier {
  private constructor(
    private readonly key: KeyObject,
    private readonly algorithm: "HS256" | "RS256" | "ES256",
    private readonly issuer: string | undefined,
    private readonly audience: string | undefined,
  ) {}

  /** The verifier WEBSOCKET_AUTH=jwt asks for, or undefined when authentication is off. */
  static fromConfig(config: GatewayConfig): TokenVerifier | undefined {
    if (config.WEBSOCKET_AUTH !== "jwt") return undefined;
    const issuer = config.WEBSOCKET_JWT_ISSUER;
    const audience = config.WEBSOCKET_JWT_AUDIENCE;
    if (config.WEBSOCKET_JWT_SECRET !== undefined) {
      return new TokenVerifier(
        createSecretKey(Buffer.from(config.WEBSOCKET_JWT_SECRET)),
        "HS256",
        issuer,
        audience,
      );
    }
    const file = config.WEBSOCKET_JWT_PUBLIC_KEY_FILE as string;
    let key: KeyObject;
    try {
      key = createPublicKey(readFileSync(file));
    } catch (error) {
      throw new ConfigError(
        `WEBSOCKET_JWT_PUBLIC_KEY_FILE=${JSON.stringify(file)}: cannot read a PEM public key (${(error as Error).message})`,
      );
    }
    return new TokenVerifier(key, algorithmFor(key, file), issuer, audience);
  }

  /** Verify signature, expiry, issuer and audience, and read the gateway's claims. */
  async verify(token: string): Promise<Grant> {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [this.algorithm],
        issuer: this.issuer,
        audience: this.audience,
        requiredClaims: ["sub", "exp"],
      }));
    } catch (error) {
      throw new TokenRejected(describe(error));
    }
    const claims = gatewayClaims.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0];
      throw new TokenRejected(`Invalid token claims: ${issue?.path.join(".")}: ${issue?.message}`);
    }
    return grantFromClaims(claims.data);
  }
}

function algorithmFor(key: KeyObject, file: string): "RS256" | "ES256" {
  if (key.asymmetricKeyType === "rsa") return "RS256";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw new ConfigError(
    `WEBSOCKET_JWT_PUBLIC_KEY_FILE=${JSON.stringify(file)}: expected an RSA (RS256) or P-256 EC (ES256) public key, got ${key.asymmetricKeyType}`,
  );
}

/** A short reason for the close frame (at most 123 bytes) that tells the client what to fix. */
function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "Token expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `Token rejected: ${error.claim} claim invalid`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "Token signature invalid";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "Token algorithm not allowed";
  return "Token malformed";
}
