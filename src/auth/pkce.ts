import { createHash, randomBytes } from 'node:crypto';
import { rememberSecret } from '../core/redact.js';

export interface Pkce {
  verifier: string;
  challenge: string;
}

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/**
 * RFC 7636 S256. Cloudflare mis-parses a challenge that starts with `-` or `_`
 * ("code_challenge_method must be S256 for public clients"), so we draw again
 * until the challenge starts with a letter or digit (about 1 in 32 draws).
 */
export function createPkce(): Pkce {
  for (;;) {
    const verifier = base64url(randomBytes(32));
    const challenge = base64url(createHash('sha256').update(verifier).digest());
    if (!/^[A-Za-z0-9]/.test(challenge)) continue;
    rememberSecret(verifier);
    return { verifier, challenge };
  }
}

/** Unguessable `state` for CSRF protection of the callback. */
export function createState(): string {
  return base64url(randomBytes(24));
}
