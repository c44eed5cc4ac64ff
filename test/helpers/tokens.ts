/**
 * Test tokens, signed with jose exactly as an identity provider would sign them, plus key pairs
 * written to PEM files for the gateway's WEBSOCKET_JWT_PUBLIC_KEY_FILE.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type JWTPayload, SignJWT } from "jose";

export const TEST_SECRET = "test-secret-of-at-least-thirty-two-characters";

export interface TokenOptions {
  sub?: string;
  /** Seconds from now; negative for an expired token. Absent: one hour. */
  expiresIn?: number;
  channels?: string[];
  accounts?: string[];
  issuer?: string;
  audience?: string;
  /** Leave `exp` out altogether. */
  noExpiry?: boolean;
}

export async function signToken(
  options: TokenOptions = {},
  key: KeyObject | Uint8Array = new TextEncoder().encode(TEST_SECRET),
  algorithm = "HS256",
): Promise<string> {
  const claims: JWTPayload & { channels?: string[]; accounts?: string[] } = {};
  if (options.channels) claims.channels = options.channels;
  if (options.accounts) claims.accounts = options.accounts;
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: algorithm }).setIssuedAt();
  if (options.sub !== undefined) jwt = jwt.setSubject(options.sub);
  if (!options.noExpiry)
    jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 3600));
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(key);
}

let folder: string | undefined;
let keyFiles = 0;

/** One temporary folder per test process, removed when the process exits. */
function keyFolder(): string {
  if (folder === undefined) {
    const created = mkdtempSync(path.join(tmpdir(), "gateway-jwt-"));
    process.once("exit", () => rmSync(created, { recursive: true, force: true }));
    folder = created;
  }
  return folder;
}

/** A key pair whose public half is in a PEM file, as an operator would deploy it. */
export function keyPairFile(type: "rsa" | "ec"): { privateKey: KeyObject; publicKeyFile: string } {
  const { privateKey, publicKey } =
    type === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicKeyFile = path.join(keyFolder(), `${type}-${++keyFiles}-public.pem`);
  writeFileSync(publicKeyFile, publicKey.export({ type: "spki", format: "pem" }));
  return { privateKey, publicKeyFile };
}

/** The `exp` a token signed now with `expiresIn` carries, as the ISO string the gateway reports. */
export function expiryOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as {
    exp: number;
  };
  return new Date(payload.exp * 1000).toISOString();
}
