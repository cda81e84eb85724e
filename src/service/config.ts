import { homedir } from 'node:os';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { parseCallbackBind, parseCallbackHost, type CallbackHost } from '../auth/callback-host.js';
import { loadServiceTokens, type ServiceTokenConfig } from '../auth/service-tokens.js';
import { parseTeamList } from '../auth/trusted-teams.js';
import { expandHome, expandUserPath } from '../auth/user-path.js';

export interface Config {
  home: string;
  browserCommand?: string;
  callbackPort: number;
  /** CF_ACCESS_MCP_CALLBACK_HOST: register only this redirect URI form (default: localhost, then 127.0.0.1 if refused). */
  callbackHost?: CallbackHost;
  /** CF_ACCESS_MCP_CALLBACK_BIND: the address the callback listener binds instead of loopback (e.g. 0.0.0.0 for a forwarded port). */
  callbackBind?: string;
  loginTimeoutMs: number;
  refreshSkewMs: number;
  defaultWaitSeconds: number;
  maxBodyBytes: number;
  maxImageBytes: number;
  /** CF_ACCESS_MCP_CONNECT_TIMEOUT_MS: how long to wait for a TCP/TLS connection. */
  connectTimeoutMs: number;
  /** CF_ACCESS_MCP_TIMEOUT_MS: how long to wait for response headers, and between body chunks. */
  responseTimeoutMs: number;
  /** CF_ACCESS_MCP_MAX_SAVE_BYTES: the most an agent's save_to may write (default 1 GiB). */
  maxSaveBytes: number;
  /** CF_ACCESS_MCP_PROXY_IDLE_TIMEOUT (seconds): a local proxy (access_proxy, cf-access-mcp proxy) stops after this long unused; unset: it lives as long as the process. */
  proxyIdleSeconds?: number;
  /** CF_ACCESS_MCP_DEADLINE_MS: total time for one tool call's request, body and redirects included (default 120 s). */
  deadlineMs: number;
  /** CF_ACCESS_MCP_DENY_COOLDOWN (seconds): after an application refused the user, no new browser login for it for this long (default 600), unless forced. */
  denyCoolDownMs: number;
  /** Problems with the variables above (a value that was not used), for the log. */
  warnings?: string[];
  /** CF_ACCESS_MCP_CLOUDFLARED, default "cloudflared" on PATH. */
  cloudflaredCommand?: string;
  /** Service tokens and the hosts they may go to (CF_ACCESS_CLIENT_*, CF_ACCESS_SERVICE_TOKEN*). */
  serviceTokens?: ServiceTokenConfig;
  /** CF_ACCESS_MCP_TEAMS: Access team hosts whose sign-in page opens without asking (besides teams already used). */
  trustedTeams?: string[];
  /** Entries of CF_ACCESS_MCP_TEAMS that are not hosts (reported, not used). */
  teamProblems?: string[];
}

/** A whole number from the environment within [min, max]; anything else is warned about (with the value used instead) and the default used. */
function wholeFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, warnings: string[], range: { min: number; max?: number; what: string }): number {
  const value = env[name]?.trim();
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (/^\d+$/.test(value) && Number.isSafeInteger(n) && n >= range.min && n <= max) return n;
  const bounds = range.max === undefined ? `at least ${range.min}` : `from ${range.min} to ${range.max}`;
  warnings.push(`${name}="${value.slice(0, 40)}" is not ${range.what} ${bounds}; using ${fallback} instead.`);
  return fallback;
}

/** A positive integer from the environment; anything else is reported and the default used. */
function positiveIntFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, warnings: string[]): number {
  const unit = name.endsWith('_MS') ? 'milliseconds' : name.endsWith('_BYTES') ? 'bytes' : 'seconds';
  return wholeFrom(env, name, fallback, warnings, { min: 1, what: `a whole number of ${unit}` });
}

/** The default store directory: the OS config directory, as conf would choose it. */
export function defaultHome(): string {
  try {
    return envPaths('cf-access-mcp', { suffix: '' }).config;
  } catch {
    return join(homedir(), '.config', 'cf-access-mcp');
  }
}

/** Reads the documented CF_ACCESS_MCP_* variables (see README). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const warnings: string[] = [];
  const callbackHost = parseCallbackHost(env.CF_ACCESS_MCP_CALLBACK_HOST);
  if (callbackHost.problem) warnings.push(callbackHost.problem);
  // Read by the conversion pool itself; checked here so a bad value is warned about at start like the others.
  wholeFrom(env, 'CF_ACCESS_MCP_CONVERT_BUDGET_MS', 10_000 /* DEFAULT_CONVERT_BUDGET_MS */, warnings, { min: 1, max: 600_000, what: 'a whole number of milliseconds' });
  const callbackBind = parseCallbackBind(env.CF_ACCESS_MCP_CALLBACK_BIND);
  if (callbackBind.problem) warnings.push(callbackBind.problem);
  return {
    home: env.CF_ACCESS_MCP_HOME?.trim() ? expandUserPath(env.CF_ACCESS_MCP_HOME.trim()) : defaultHome(),
    browserCommand: env.CF_ACCESS_MCP_BROWSER?.trim() || undefined,
    callbackPort: wholeFrom(env, 'CF_ACCESS_MCP_CALLBACK_PORT', 8400, warnings, { min: 0, max: 65535, what: 'a port number' }),
    ...(callbackHost.host ? { callbackHost: callbackHost.host } : {}),
    ...(callbackBind.address ? { callbackBind: callbackBind.address } : {}),
    loginTimeoutMs: wholeFrom(env, 'CF_ACCESS_MCP_LOGIN_TIMEOUT', 300, warnings, { min: 1, what: 'a whole number of seconds' }) * 1000,
    refreshSkewMs: wholeFrom(env, 'CF_ACCESS_MCP_REFRESH_SKEW', 60, warnings, { min: 0, what: 'a whole number of seconds' }) * 1000,
    defaultWaitSeconds: 45,
    maxBodyBytes: wholeFrom(env, 'CF_ACCESS_MCP_MAX_BODY_BYTES', 5 * 1024 * 1024, warnings, { min: 1024, what: 'a whole number of bytes' }),
    maxImageBytes: wholeFrom(env, 'CF_ACCESS_MCP_MAX_IMAGE_BYTES', 1024 * 1024, warnings, { min: 1024, what: 'a whole number of bytes' }),
    connectTimeoutMs: positiveIntFrom(env, 'CF_ACCESS_MCP_CONNECT_TIMEOUT_MS', 10_000, warnings),
    responseTimeoutMs: positiveIntFrom(env, 'CF_ACCESS_MCP_TIMEOUT_MS', 30_000, warnings),
    maxSaveBytes: positiveIntFrom(env, 'CF_ACCESS_MCP_MAX_SAVE_BYTES', 1024 ** 3, warnings),
    deadlineMs: positiveIntFrom(env, 'CF_ACCESS_MCP_DEADLINE_MS', 120_000, warnings),
    denyCoolDownMs: positiveIntFrom(env, 'CF_ACCESS_MCP_DENY_COOLDOWN', 600, warnings) * 1000,
    ...(env.CF_ACCESS_MCP_PROXY_IDLE_TIMEOUT?.trim()
      ? { proxyIdleSeconds: wholeFrom(env, 'CF_ACCESS_MCP_PROXY_IDLE_TIMEOUT', 0, warnings, { min: 1, what: 'a whole number of seconds' }) || undefined }
      : {}),
    warnings,
    cloudflaredCommand: env.CF_ACCESS_MCP_CLOUDFLARED?.trim() ? expandHome(env.CF_ACCESS_MCP_CLOUDFLARED.trim()) : 'cloudflared',
    serviceTokens: loadServiceTokens(env),
    ...teamsFrom(env),
  };
}

function teamsFrom(env: NodeJS.ProcessEnv): Pick<Config, 'trustedTeams' | 'teamProblems'> {
  const { teams, problems } = parseTeamList(env.CF_ACCESS_MCP_TEAMS);
  return { trustedTeams: teams, teamProblems: problems };
}
