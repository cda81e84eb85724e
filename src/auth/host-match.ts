/**
 * Host patterns naming where a service token may be sent:
 *   `app.example.com`        that host exactly, any port
 *   `app.example.com:8443`   that host on that port only
 *   `*.example.com`          any subdomain of example.com (not example.com itself)
 * Matching is by whole DNS labels, so `evil-example.com` and
 * `example.com.evil.net` never match `example.com` or `*.example.com`.
 * A pattern may be written as a URL (`https://app.example.com/`); only its
 * host and port count. Case and a trailing dot are ignored.
 */
export interface HostPattern {
  /** The pattern as written (trimmed), for messages. */
  source: string;
  /** Normalised host name (for a wildcard: the part after `*.`). */
  hostname: string;
  wildcard: boolean;
  /** Port as a string when the pattern names one. */
  port?: string;
}

export class HostPatternError extends Error {
  override readonly name = 'HostPatternError';
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

function stripTrailingDot(hostname: string): string {
  return hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
}

/** The host part of a URL without IPv6 brackets, normalised like a pattern. */
function normaliseHostname(hostname: string): string {
  return stripTrailingDot(hostname.toLowerCase());
}

function looksLikeIp(hostname: string): boolean {
  return hostname.startsWith('[') || /^[\d.]+$/.test(hostname);
}

/** Parses one pattern; throws HostPatternError with a readable reason. */
export function parseHostPattern(input: string): HostPattern {
  const source = input.trim();
  if (source === '') throw new HostPatternError('an empty host pattern');
  let rest = source.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  rest = rest.split(/[/?#]/, 1)[0]!;
  if (rest.includes('@')) throw new HostPatternError(`"${source}" contains "@"; give a host name such as app.example.com`);
  const wildcard = rest.startsWith('*.');
  if (wildcard) rest = rest.slice(2);
  if (rest.includes('*')) {
    throw new HostPatternError(`"${source}" has "*" in the wrong place; a wildcard is only allowed as the first label, as in *.example.com`);
  }
  let url: URL;
  try {
    url = new URL(`http://${rest}`);
  } catch {
    throw new HostPatternError(`"${source}" is not a valid host name`);
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    throw new HostPatternError(`"${source}" is not a valid host name`);
  }
  const hostname = normaliseHostname(url.hostname);
  if (hostname === '') throw new HostPatternError(`"${source}" has no host name`);
  // new URL() drops a port of 80 for http: keep whatever was written.
  const portMatch = /:(\d+)$/.exec(rest);
  const port = portMatch ? String(Number(portMatch[1])) : undefined;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw new HostPatternError(`"${source}" has an invalid port`);
  if (wildcard) {
    if (looksLikeIp(hostname)) throw new HostPatternError(`"${source}": a wildcard cannot cover an IP address`);
    if (!hostname.includes('.')) {
      throw new HostPatternError(`"${source}" would match every host under a top-level domain; name a domain such as *.example.com`);
    }
  }
  return { source, hostname, wildcard, port };
}

/** Does the pattern cover this URL's host (and port, when the pattern names one)? */
export function hostMatches(pattern: HostPattern, url: URL): boolean {
  const hostname = normaliseHostname(url.hostname);
  if (pattern.port !== undefined) {
    const port = url.port || DEFAULT_PORTS[url.protocol];
    if (port !== pattern.port) return false;
  }
  if (!pattern.wildcard) return hostname === pattern.hostname;
  return hostname.length > pattern.hostname.length + 1 && hostname.endsWith(`.${pattern.hostname}`);
}

/** How specific a pattern is: exact beats wildcard, a port beats none, a longer domain beats a shorter one. */
export function specificity(pattern: HostPattern): number {
  return (pattern.wildcard ? 0 : 1_000_000) + (pattern.port !== undefined ? 100_000 : 0) + pattern.hostname.length;
}

/** Parses a comma- (or whitespace-) separated list; returns the patterns and one message per bad entry. */
export function parseHostList(list: string): { patterns: HostPattern[]; errors: string[] } {
  const patterns: HostPattern[] = [];
  const errors: string[] = [];
  for (const item of list.split(/[,\s]+/)) {
    if (item.trim() === '') continue;
    try {
      patterns.push(parseHostPattern(item));
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  return { patterns, errors };
}
