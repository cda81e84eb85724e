export type ApprovalMode = 'auto' | 'interactive';
export type AccessMode = 'managed' | 'classic' | 'service-auth-only';
export type OriginName = 'app' | 'app2' | 'plain' | 'team';

export interface ServiceToken {
  clientId: string;
  clientSecret: string;
}

export interface EmulatorOptions {
  approval?: ApprovalMode;
  /** 'bare': issuer "127.0.0.1:<teamPort>" with no scheme (as the docs show); 'https': the teamUrl. */
  issuerStyle?: 'bare' | 'https';
  tokenLifetimeSeconds?: number;
  codeLifetimeSeconds?: number;
  /** When true the refresh grant returns a new refresh token and invalidates the old one. */
  rotateRefreshTokens?: boolean;
  /**
   * An authorize request with an unknown client_id: 'page' shows the error
   * (RFC 6749 §4.1.2.1, the client never hears of it); 'redirect' sends
   * error=invalid_client back to the redirect_uri when it is a loopback URI,
   * as for a registration the server has forgotten, so a client can register again.
   */
  unknownClientAtAuthorize?: 'page' | 'redirect';
  mode?: AccessMode;
  /** Lifetime of classic Access JWTs (cloudflared / CF_Authorization). */
  jwtLifetimeSeconds?: number;
  serviceTokens?: ServiceToken[];
  /** Name of a single header that may carry {"cf-access-client-id","cf-access-client-secret"} as JSON. */
  serviceTokenHeader?: string;
  /** Wrong service token credentials get 401 (bad secret) / 403 (unknown id) instead of the mode's challenge. */
  strictServiceTokens?: boolean;
  /** Which loopback redirect URI form the "account" allows (Access has one switch for each); default both. */
  redirectHosts?: 'both' | 'localhost' | '127.0.0.1';
  /**
   * Where `redirectHosts` is enforced: 'registration' (default) refuses the
   * other form when the client registers; 'authorize' accepts it at
   * registration and refuses it at authorization, redirecting
   * error=invalid_request to the registered redirect URI.
   */
  redirectHostsCheckedAt?: 'registration' | 'authorize';
  /** Grants a client may register; registering one outside this list is refused (invalid_client_metadata). */
  registrableGrants?: Array<'authorization_code' | 'refresh_token'>;
  /** Refresh is refused (unauthorized_client) for a client that did not register the refresh_token grant. */
  strictGrants?: boolean;
  /** False: the application's grant session duration is 0, so no refresh token is issued. */
  issueRefreshTokens?: boolean;
  /** Seconds the emulator's clock is ahead (negative: behind) of this machine's: its Date headers show it. */
  clockSkewSeconds?: number;
  /**
   * Further Access applications on the app host, each with its own path, AUD, policy and
   * `resource` (e.g. ['/admin']): the most specific path wins, a token works for its own only.
   */
  pathApps?: string[];
  /** Applications whose policy refuses the user, once signed in (the block page comes after the sign-in step): 'app', 'app2' or a path of pathApps ('/admin'). */
  deny?: string[];
  /**
   * Applications that admit the user at sign-in but refuse every signed-in request (a
   * non-identity rule failing after the login, e.g. device posture): Access's 403 block page
   * for the request, while authorization and renewal succeed. Names as in `deny`.
   */
  denyRequests?: string[];
  /** custom_deny_url: a refused authenticated request is redirected (302) here instead of the 403 block page. */
  denyUrl?: string;
  host?: string;
  appPort?: number;
  app2Port?: number;
  plainPort?: number;
  teamPort?: number;
  /** A directory of bare git repositories served read-write at /git/ on the protected apps (smart HTTP via `git http-backend`). */
  gitRoot?: string;
  trace?: (entry: LogEntry) => void;
}

/** The live options object: every field resolved; tests may mutate it between requests. */
export interface EmulatorLiveOptions
  extends Required<Omit<EmulatorOptions, 'trace' | 'serviceTokenHeader' | 'gitRoot' | 'denyUrl'>> {
  serviceTokenHeader?: string;
  gitRoot?: string;
  denyUrl?: string;
  trace?: (entry: LogEntry) => void;
}

export interface LogEntry {
  time: number;
  origin: OriginName;
  endpoint: string;
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  bytesSent?: number;
}

export type FaultEndpoint =
  | 'resource_metadata'
  | 'server_metadata'
  | 'registration'
  | 'authorize'
  | 'token'
  | 'revoke'
  | 'probe'
  | 'resource';

export type FaultKind =
  | '5xx'
  | 'delay'
  | 'drop'
  | 'malformed_json'
  | 'missing_fields'
  | 'metadata_other_origin'
  | 'http_authorization_server'
  | 'authorization_server_other_host'
  | 'no_access_token'
  | 'huge_header'
  | 'huge_body'
  /** server_metadata: managed OAuth without dynamic registration (no registration_endpoint). */
  | 'registration_off'
  /** authorize: the `resource` parameter is refused (invalid_target), as by a server that does not know RFC 8707. */
  | 'resource_refused';

export interface Fault {
  endpoint: FaultEndpoint;
  kind: FaultKind;
  delayMs?: number;
  /** How many matching requests the fault applies to; absent = until cleared. */
  times?: number;
}

export interface Revocation {
  time: number;
  token_type_hint?: string;
  kind: 'access' | 'refresh' | 'unknown';
}

export interface Emulator {
  appUrl: string;
  app2Url: string;
  plainUrl: string;
  teamUrl: string;
  /** Access "AUD tags" of the two protected apps (used in classic JWTs and login redirects). */
  aud: { app: string; app2: string };
  /** Every application: name ('app', 'app2', '/admin'), its `resource` and AUD. */
  applications: Array<{ name: string; resource: string; aud: string }>;
  options: EmulatorLiveOptions;
  log: LogEntry[];
  clearLog(): void;
  requests(filter?: { origin?: string; endpoint?: string }): LogEntry[];
  revocations: Revocation[];
  expireAccessTokens(): void;
  revokeAllTokens(): void;
  revokeRefreshTokens(): void;
  isTokenActive(token: string): boolean;
  forgetRegistrations(): void;
  /** Ends every session of the /mcp and /sse servers, as a restart of a remote MCP server does (an old session id gets 404, an event stream ends). */
  endMcpSessions(options?: McpRestartOptions): Promise<void>;
  clients(): Array<{ client_id: string; redirect_uris: string[] }>;
  setFault(f: Fault | null): void;
  /** Every secret issued, received or configured (tokens, codes, verifiers, classic JWTs, service-token secrets), for leak checks. */
  secrets(): string[];
  /** Signs a classic Access JWT for the app (or app2) as if `cloudflared access login` had completed. */
  issueClassicJwt(opts?: { lifetimeSeconds?: number; app?: string }): string;
  close(): Promise<void>;
}

/** How the emulator's MCP server "restarts" (Emulator.endMcpSessions). */
export interface McpRestartOptions {
  /** That many new sessions after it are refused with 503 (still starting up). */
  refuseInitializes?: number;
  /** Forget the sessions but leave their event streams open (another instance answers their messages). */
  keepStreams?: boolean;
}
