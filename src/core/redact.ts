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
/** The same secrets as a set, for telling whether a caller's extra ones are new. */
let known: Set<string> | undefined;

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

/** Every secret to look for right now, longest first: for a worker thread, which cannot see this process's sets. */
export function currentSecrets(extra: Iterable<string | undefined> = []): string[] {
  if (!ordered) {
    ordered = [...new Set([...pinned, ...remembered])].sort((a, b) => b.length - a.length);
    known = new Set(ordered);
  }
  // Usually the request's own credential, already remembered: then the shared list serves, with no copy to sort.
  let more: string[] | undefined;
  for (const s of extra) if (s && s.length >= MIN_LENGTH && !known!.has(s)) (more ??= []).push(s);
  return more ? [...new Set([...more, ...ordered])].sort((a, b) => b.length - a.length) : ordered;
}

/**
 * `text` with every remembered secret (and every one in `extra`) replaced by
 * [redacted], as written and in every escaped form a page or a converter can
 * give it (see redactWith).
 */
export function redactSecrets(text: string, extra: Iterable<string | undefined> = []): string {
  return redactWith(text, currentSecrets(extra));
}

/**
 * Replaces each of `secrets` (longest first) by [redacted], as written and
 * escaped: Markdown writes `_` as `\_` (also `*`, `[`, `` ` ``, `\`…), HTML
 * spells it `&#95;`, `&#x5f;` or `&lowbar;`, a URL `%5F`, JSON `\u005f` (and
 * `/` as `\/`), and these stack (JSON shown in Markdown: `\\u005f`). The
 * escaped forms are found by decoding the text once per layer, keeping where
 * each decoded character came from, and replacing the original span. Linear in
 * the text; text without `\`, `&` or `%` is searched as written only.
 */
export function redactWith(text: string, secrets: readonly string[], replacement = REDACTED): string {
  if (!text || !secrets.length || text.length < MIN_LENGTH) return text;
  const shortest = secrets[secrets.length - 1]!.length;
  if (text.length < shortest) return text;
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(replacement);
  }
  return redactEscaped(out, secrets, shortest, replacement);
}

/** How many layers of escaping are undone (one per encoder a text went through). */
const MAX_LAYERS = 3;
/** A secret whose longest alphanumeric run is shorter is looked for escaped whenever the text has an escape. */
const MIN_ANCHOR = 8;

function redactEscaped(text: string, secrets: readonly string[], shortest: number, replacement: string): string {
  if (!hasEscape(text)) return text;
  const wanted = secrets.filter((secret) => mayOccurEscaped(text, secret));
  if (!wanted.length) return text;
  let decoded = text;
  let origin: Int32Array | undefined;
  for (let layer = 0; layer < MAX_LAYERS && hasEscape(decoded); layer++) {
    const next = decodeLayer(decoded);
    if (!next) break;
    // Compose: a character of this layer comes from one of the previous layer, which comes from `text`.
    if (origin) for (let i = 0; i < next.origin.length; i++) next.origin[i] = origin[next.origin[i]!]!;
    ({ text: decoded, origin } = next);
    if (decoded.length < shortest) break;
    const spans = findSpans(decoded, origin, wanted);
    if (spans.length) {
      // The text changed: start again from it (rare: a secret was found escaped).
      return redactEscaped(replaceSpans(text, spans, replacement), secrets, shortest, replacement);
    }
  }
  return text;
}

const hasEscape = (text: string) => text.includes('\\') || text.includes('&') || text.includes('%');

/**
 * Converters escape punctuation only, never letters or digits: a secret can be
 * in the text in some escaped form only if its longest alphanumeric run is
 * there as written. A cheap native search that skips decoding on almost every text.
 */
function mayOccurEscaped(text: string, secret: string): boolean {
  const anchor = anchorOf(secret);
  if (anchor === secret) return false;
  return anchor.length < MIN_ANCHOR || text.includes(anchor);
}

const anchors = new Map<string, string>();
function anchorOf(secret: string): string {
  let anchor = anchors.get(secret);
  if (anchor === undefined) {
    anchor = (secret.match(/[A-Za-z0-9]+/g) ?? []).reduce((a, b) => (b.length > a.length ? b : a), '');
    if (anchors.size > 4 * MAX_REMEMBERED) anchors.clear();
    anchors.set(secret, anchor);
  }
  return anchor;
}

/** Where each secret occurs in `decoded`, as spans of the original text. */
function findSpans(decoded: string, origin: Int32Array, secrets: readonly string[]): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (const secret of secrets) {
    for (let at = decoded.indexOf(secret); at !== -1; at = decoded.indexOf(secret, at + secret.length)) {
      spans.push([origin[at]!, origin[at + secret.length]!]);
    }
  }
  return spans;
}

function replaceSpans(text: string, spans: Array<[number, number]>, replacement: string): string {
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const parts: string[] = [];
  let done = 0;
  for (const [start, end] of spans) {
    if (end <= done) continue;
    if (start >= done) parts.push(text.slice(done, start), replacement);
    done = end;
  }
  parts.push(text.slice(done));
  return parts.join('');
}

/**
 * Named HTML entities for the ASCII characters a secret can hold, beyond the
 * numeric forms (the full HTML table is 2,000 names; these are the ones that
 * spell printable ASCII).
 */
const NAMED = new Map<string, string>(Object.entries({
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", lowbar: '_', UnderBar: '_', ast: '*', midast: '*', lsqb: '[', lbrack: '[',
  rsqb: ']', rbrack: ']', bsol: '\\', grave: '`', DiacriticalGrave: '`', num: '#', excl: '!', dollar: '$', percnt: '%', lpar: '(',
  rpar: ')', plus: '+', comma: ',', period: '.', sol: '/', colon: ':', semi: ';', equals: '=', quest: '?', commat: '@', Hat: '^',
  lcub: '{', lbrace: '{', verbar: '|', vert: '|', VerticalLine: '|', rcub: '}', rbrace: '}', NewLine: '\n', Tab: '\t',
}));

const BACKSLASH = 0x5c;
const AMPERSAND = 0x26;
const PERCENT = 0x25;
const utf16 = new TextDecoder('utf-16le');

/**
 * One layer of escapes undone, with the offset in the input each output
 * character starts at (and the input's length at the end). A tight loop over
 * char codes: an escape is read in a few characters, so this stays linear.
 */
function decodeLayer(input: string): { text: string; origin: Int32Array } | undefined {
  const out = new Uint16Array(input.length);
  const origin = new Int32Array(input.length + 1);
  let length = 0;
  let changed = false;
  for (let i = 0; i < input.length; ) {
    const code = input.charCodeAt(i);
    if (code === BACKSLASH || code === AMPERSAND || code === PERCENT) {
      const escape = decodeAt(input, i);
      if (escape) {
        for (let k = 0; k < escape.char.length; k++) {
          out[length] = escape.char.charCodeAt(k);
          origin[length++] = i;
        }
        i = escape.end;
        changed = true;
        continue;
      }
    }
    out[length] = code;
    origin[length++] = i++;
  }
  if (!changed) return undefined;
  origin[length] = input.length;
  return { text: utf16.decode(out.subarray(0, length)), origin: origin.subarray(0, length + 1) };
}

const isHex = (code: number) => (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
const isLetter = (code: number) => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
const isPunctuation = (code: number) => (code >= 0x21 && code <= 0x2f) || (code >= 0x3a && code <= 0x40) || (code >= 0x5b && code <= 0x60) || (code >= 0x7b && code <= 0x7e);

/** `count` hex digits at `at`, or -1. */
function hexAt(input: string, at: number, count: number): number {
  if (at + count > input.length) return -1;
  for (let k = 0; k < count; k++) if (!isHex(input.charCodeAt(at + k))) return -1;
  return parseInt(input.slice(at, at + count), 16);
}

function decodeAt(input: string, i: number): { char: string; end: number } | undefined {
  const code = input.charCodeAt(i);
  if (code === BACKSLASH) {
    const next = input.charCodeAt(i + 1);
    if (next === 0x75 /* u */) {
      const unit = hexAt(input, i + 2, 4);
      return unit === -1 ? undefined : { char: String.fromCharCode(unit), end: i + 6 };
    }
    return isPunctuation(next) ? { char: input[i + 1]!, end: i + 2 } : undefined;
  }
  if (code === PERCENT) {
    const byte = hexAt(input, i + 1, 2);
    return byte !== -1 && byte < 0x80 ? { char: String.fromCharCode(byte), end: i + 3 } : undefined;
  }
  return entityAt(input, i);
}

/** `&#95;`, `&#x5f;` (the `;` optional, as in HTML) or `&lowbar;`. */
function entityAt(input: string, i: number): { char: string; end: number } | undefined {
  let at = i + 1;
  if (input.charCodeAt(at) === 0x23 /* # */) {
    const hex = (input.charCodeAt(at + 1) | 0x20) === 0x78; /* x */
    const start = (at += hex ? 2 : 1);
    while (at < input.length && at - start < 8 && (hex ? isHex : isDigit)(input.charCodeAt(at))) at++;
    if (at === start) return undefined;
    const point = parseInt(input.slice(start, at), hex ? 16 : 10);
    if (!(point > 0 && point <= 0x10ffff)) return undefined;
    return { char: String.fromCodePoint(point), end: input.charCodeAt(at) === 0x3b ? at + 1 : at };
  }
  while (at < input.length && at - i <= 32 && (isLetter(input.charCodeAt(at)) || (at > i + 1 && isDigit(input.charCodeAt(at))))) at++;
  if (input.charCodeAt(at) !== 0x3b /* ; */) return undefined;
  const char = NAMED.get(input.slice(i + 1, at));
  return char === undefined ? undefined : { char, end: at + 1 };
}

/** The same for every string inside a JSON-like value (structured tool results). */
export function redactDeep<T>(value: T, secrets: readonly string[] = currentSecrets()): T {
  if (typeof value === 'string') return redactWith(value, secrets) as T;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, secrets)) as T;
  if (value && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const item = redactDeep((value as Record<string, unknown>)[key], secrets);
      // A key named __proto__ (data a server chose) stays a plain property, as JSON.parse makes it.
      if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
      else copy[key] = item;
    }
    return copy as T;
  }
  return value;
}
