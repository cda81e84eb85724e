import { createHash, randomBytes, randomUUID } from 'node:crypto';

export interface ClientRecord {
  client_id: string;
  redirect_uris: string[];
  client_name?: string;
  /** The registration response body, as returned to the client. */
  registration: Record<string, unknown>;
}

export interface CodeRecord {
  clientId: string;
  redirectUri: string;
  challenge: string;
  /** App origin without trailing slash. */
  resource: string;
  expiresAt: number;
  used: boolean;
}

export interface TokenRecord {
  kind: 'access' | 'refresh';
  clientId: string;
  resource: string;
  /** Tokens from one authorization share a grant, so revoking the refresh token ends its access tokens. */
  grantId: string;
  expiresAt: number;
  revoked: boolean;
}

/** An interactive authorization request waiting for the user to press Approve or Deny. */
export interface PendingAuthorization {
  clientId: string;
  redirectUri: string;
  challenge: string;
  resource: string;
  state: string | null;
  expiresAt: number;
}

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

const PENDING_LIFETIME_MS = 10 * 60 * 1000;

/** Clients, authorization codes and tokens of the emulated authorization server. */
export class AuthState {
  readonly clients = new Map<string, ClientRecord>();
  readonly codes = new Map<string, CodeRecord>();
  readonly tokens = new Map<string, TokenRecord>();
  readonly pending = new Map<string, PendingAuthorization>();
  /** Secrets seen outside the maps above (code verifiers received, classic JWTs issued), kept for leak checks. */
  readonly otherSecrets = new Set<string>();

  /** Every code, token, verifier and JWT this server issued or received. */
  secrets(): string[] {
    return [...this.codes.keys(), ...this.tokens.keys(), ...this.otherSecrets];
  }

  register(redirectUris: string[], registration: Record<string, unknown>, clientName?: string): ClientRecord {
    const client: ClientRecord = {
      client_id: randomUUID(),
      redirect_uris: redirectUris,
      registration,
      ...(clientName !== undefined ? { client_name: clientName } : {}),
    };
    this.clients.set(client.client_id, client);
    return client;
  }

  issueCode(fields: Omit<CodeRecord, 'expiresAt' | 'used'>, lifetimeSeconds: number): string {
    const code = randomToken();
    this.codes.set(code, { ...fields, expiresAt: Date.now() + lifetimeSeconds * 1000, used: false });
    return code;
  }

  addPending(fields: Omit<PendingAuthorization, 'expiresAt'>): string {
    const id = randomToken(16);
    this.pending.set(id, { ...fields, expiresAt: Date.now() + PENDING_LIFETIME_MS });
    return id;
  }

  /** Returns and forgets a pending authorization (each can be decided once). */
  takePending(id: string): PendingAuthorization | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    return pending && pending.expiresAt > Date.now() ? pending : undefined;
  }

  issueAccessToken(clientId: string, resource: string, grantId: string, lifetimeSeconds: number): string {
    const token = `oauth:${randomToken()}`;
    this.tokens.set(token, {
      kind: 'access',
      clientId,
      resource,
      grantId,
      expiresAt: Date.now() + lifetimeSeconds * 1000,
      revoked: false,
    });
    return token;
  }

  issueRefreshToken(clientId: string, resource: string, grantId: string): string {
    const token = `oauth:${randomToken()}`;
    this.tokens.set(token, { kind: 'refresh', clientId, resource, grantId, expiresAt: Infinity, revoked: false });
    return token;
  }

  /** The record of a token that is still accepted, else undefined. */
  activeToken(token: string, kind?: TokenRecord['kind']): TokenRecord | undefined {
    const record = this.tokens.get(token);
    if (!record || record.revoked || record.expiresAt <= Date.now()) return undefined;
    if (kind && record.kind !== kind) return undefined;
    return record;
  }

  revokeToken(token: string): TokenRecord['kind'] | 'unknown' {
    const record = this.tokens.get(token);
    if (!record) return 'unknown';
    record.revoked = true;
    if (record.kind === 'refresh') {
      for (const other of this.tokens.values()) if (other.grantId === record.grantId) other.revoked = true;
    }
    return record.kind;
  }

  expireAccessTokens(): void {
    const past = Date.now() - 1;
    for (const record of this.tokens.values()) if (record.kind === 'access') record.expiresAt = past;
  }

  revokeAll(kind?: TokenRecord['kind']): void {
    for (const record of this.tokens.values()) if (!kind || record.kind === kind) record.revoked = true;
  }

  forgetClients(): void {
    this.clients.clear();
    this.pending.clear();
  }
}
