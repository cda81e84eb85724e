/**
 * The secrets this process holds (tokens, codes, verifiers, service-token
 * secrets), so that every way out — tool results, log lines, stderr, CLI
 * output — can replace them with [redacted], whatever text carried them
 * there (a server's error_description, a page that echoes a header, a
 * misplaced environment variable). A safety net: code should not put a secret
 * in a message in the first place.
 */
export const REDACTED = '[redacted]';

/** Shorter values are too likely to occur in ordinary text. */
const MIN_LENGTH = 8;
/**
 * Tokens pile up over a long session (a few per refresh), and every result is
 * searched for each: the least recently seen are forgotten first (live session
 * tokens are seen again whenever the store changes).
 */
const MAX_REMEMBERED = 200;

const remembered = new Set<string>();
/** Configured secrets (service tokens): never forgotten. */
const pinned = new Set<string>();
/** Longest first, so a secret that contains another is replaced whole; rebuilt after each change. */
let ordered: string[] | undefined;

function add(value: string): void {
  if (remembered.has(value)) {
    // Seen again: move it to the young end, out of the way of eviction.
    remembered.delete(value);
    remembered.add(value);
    return;
  }
  remembered.add(value);
  ordered = undefined;
  if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.values().next().value!);
}

/** Secrets from the configuration, kept for the life of the process. */
export function pinSecret(...values: Array<string | undefined>): void {
  for (const value of values) {
    if (!value || value.length < MIN_LENGTH || pinned.has(value)) continue;
    pinned.add(value);
    ordered = undefined;
  }
}

/** Adds secrets to the set every output is scrubbed of. */
export function rememberSecret(...values: Array<string | undefined>): void {
  for (const value of values) {
    if (!value || value.length < MIN_LENGTH) continue;
    // A prefixed token ("oauth:<random>") may be shown without its prefix: its random part is what is
    // looked for ("oauth:[redacted]"). Also much quicker: a shared prefix slows every search down.
    const core = value.slice(value.lastIndexOf(':') + 1);
    add(core !== value && core.length >= 16 ? core : value);
  }
}

/** `text` with every remembered secret (and every one in `extra`) replaced by [redacted]. */
export function redactSecrets(text: string, extra: Iterable<string | undefined> = []): string {
  if (!text || text.length < MIN_LENGTH) return text;
  ordered ??= [...new Set([...pinned, ...remembered])].sort((a, b) => b.length - a.length);
  const more = [...extra].filter((s): s is string => !!s && s.length >= MIN_LENGTH);
  if (!more.length && text.length < (ordered[ordered.length - 1]?.length ?? Infinity)) return text;
  const secrets = more.length ? [...more, ...ordered].sort((a, b) => b.length - a.length) : ordered;
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** The same for every string inside a JSON-like value (structured tool results). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactDeep(item)])) as T;
  }
  return value;
}
