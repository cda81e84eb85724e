import { loadServiceTokens } from './service-tokens.js';

/**
 * The environment for a process we start (the browser opener and the browser
 * it launches, cloudflared): ours minus every CF_ACCESS_* variable (service
 * token pair, token file path, our own settings) and minus any variable that
 * holds a configured client ID or secret — which covers the variables the
 * CF_ACCESS_SERVICE_TOKENS file names (client_id_env / client_secret_env).
 * None of these children needs them, and a browser keeps its environment for
 * as long as it runs.
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const credentials = new Set<string>();
  for (const token of loadServiceTokens(env).tokens) credentials.add(token.clientId).add(token.clientSecret);
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || /^CF_ACCESS_/i.test(name)) continue;
    if (credentials.has(value.trim())) continue;
    clean[name] = value;
  }
  return clean;
}
