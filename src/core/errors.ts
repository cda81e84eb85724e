/**
 * Typed errors of the auth core. Every error carries a `nextStep` telling the
 * user (or agent) what to do about it; messages never contain secrets.
 */
export type AccessErrorCode =
  | 'invalid_url'
  | 'invalid_arguments'
  | 'discovery_failed'
  | 'invalid_metadata'
  | 'unsupported_server'
  | 'registration_failed'
  | 'authorization_denied'
  | 'authorization_failed'
  | 'token_failed'
  | 'login_pending'
  | 'login_timeout'
  | 'login_cancelled'
  | 'callback_failed'
  | 'network_error'
  | 'store_error'
  | 'service_token_refused'
  | 'service_token_missing'
  | 'cloudflared_missing'
  | 'cloudflared_failed'
  | 'app_not_verified'
  | 'not_protected'
  | 'save_failed'
  | 'policy_denied'
  | 'login_held_back'
  | 'header_conflict';

export class AccessError extends Error {
  override readonly name: string = 'AccessError';
  constructor(
    readonly code: AccessErrorCode,
    message: string,
    readonly nextStep: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** One readable paragraph: what happened, then what to do next. */
  describe(): string {
    return `${this.message}\nNext step: ${this.nextStep}`;
  }
}

export function isAccessError(error: unknown): error is AccessError {
  return error instanceof AccessError;
}

/** Turns any thrown value into a message safe to show (AccessError keeps its next step). */
export function describeError(error: unknown): string {
  if (error instanceof AccessError) return error.describe();
  if (error instanceof Error) return `${error.message}\nNext step: check the URL and try again; if it persists, report it with the server's stderr log.`;
  return String(error);
}

/** An OAuth error response (RFC 6749 §5.2) from the token or authorization endpoint. */
export class OAuthProtocolError extends AccessError {
  override readonly name = 'OAuthProtocolError';
  constructor(
    code: AccessErrorCode,
    readonly oauthError: string,
    message: string,
    nextStep: string,
  ) {
    super(code, message, nextStep);
  }
}
