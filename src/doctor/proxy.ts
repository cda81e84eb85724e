/** Proxy variables as undici's EnvHttpProxyAgent reads them, shown without credentials. */
import { finding, type DoctorContext, type Finding } from './finding.js';

function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name.toLowerCase()]?.trim() || env[name]?.trim() || undefined;
}

/** A proxy URL with any user name and password replaced. */
export function withoutCredentials(value: string): string {
  try {
    const url = new URL(value);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    return url.href;
  } catch {
    return '(not a URL)';
  }
}

function bypassed(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.toLowerCase();
  const port = url.port;
  return noProxy.split(/[\s,]+/).some((raw) => {
    const entry = raw.trim().toLowerCase();
    if (!entry) return false;
    if (entry === '*') return true;
    const [name, entryPort] = entry.startsWith('[') ? [entry.slice(0, entry.indexOf(']') + 1), entry.split(']:')[1]] : entry.split(':');
    if (entryPort && entryPort !== port) return false;
    const bare = name!.replace(/^\*?\./, '');
    return host === bare || host.endsWith(`.${bare}`);
  });
}

/** The proxy a request to `url` would use, or undefined when it goes direct. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): string | undefined {
  const proxy = url.protocol === 'https:' ? variable(env, 'HTTPS_PROXY') : variable(env, 'HTTP_PROXY');
  if (!proxy || bypassed(url, variable(env, 'NO_PROXY'))) return undefined;
  return proxy;
}

export function checkProxy(ctx: DoctorContext): Finding[] {
  const { url, env } = ctx;
  const set = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'].filter((name) => variable(env, name) !== undefined);
  if (set.length === 0) return [finding('proxy', 'proxy_none', 'ok', 'No proxy variables are set: requests go direct.')];
  const shown = set.map((name) => `${name}=${name === 'NO_PROXY' ? variable(env, name) : withoutCredentials(variable(env, name)!)}`).join(', ');
  const proxy = proxyFor(url, env);
  if (!proxy) return [finding('proxy', 'proxy_bypassed', 'info', `${shown}: requests to ${url.host} go direct.`)];
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (loopback) {
    return [
      finding('proxy', 'proxy_for_loopback', 'warn', `${shown}: even ${url.host} (this machine) is sent through ${withoutCredentials(proxy)}.`, `Add ${url.hostname} to NO_PROXY (e.g. NO_PROXY=localhost,127.0.0.1).`),
    ];
  }
  return [finding('proxy', 'proxy_used', 'info', `${shown}: requests to ${url.host} go through ${withoutCredentials(proxy)}.`, 'If requests fail with timeouts or certificate errors, check the proxy address and set NODE_EXTRA_CA_CERTS to its CA.')];
}
