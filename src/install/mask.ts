/**
 * What `install` shows of a client's config file (the diff, `--json`), with
 * every credential masked as [redacted]; the file itself keeps the real values.
 * The file may hold our service token and any other server's credentials, and
 * the diff's context lines reach the neighbouring entries, so masking is by
 * where a value stands, not by recognizing known secrets:
 *
 * - every value inside `env`, `environment`, `env_vars` (an object of them),
 *   `headers` or `http_headers` (Codex) of any entry: where clients keep
 *   credentials. Shown: the variable names a Codex `env_vars` list forwards,
 *   and our own entry's non-secret settings (OUR_SETTINGS);
 * - every value under a secret-looking key (SECRET_NAME) at any depth, however short
 *   (`auth.value`, `credentials.password`); a number counting tokens stays (COUNT_NAME);
 * - in any string (arguments, URLs, comments): a value after a secret-looking
 *   flag (`--token x`, `--api-key=x`) or setting (`TOKEN=x`, `Authorization: Bearer x`),
 *   a URL's password, UUID-shaped path segments and query values (outside our
 *   entry: every one; in it, secret-looking ones), token-shaped words
 *   (`ghp_…`, `sk-…`, `xoxb-…`, JWTs, long random strings);
 * - comments get the same string rules, plus `"NAME": "value"` / `NAME = "value"`
 *   with an environment-style NAME (a commented-out env line).
 *
 * A masked value is replaced where it stands, so every line stays a line and
 * the diff keeps its shape. Last, every credential found is also replaced
 * wherever else it appears (a key, an escaped form), as the old masking did.
 */
import { REDACTED, redactDeep, redactWith } from '../core/redact.js';
import { configLiterals, type KeyPath } from './literals.js';

/** Where clients keep a server's credentials. */
const HOLDERS = new Set(['env', 'environment', 'env_vars', 'headers', 'http_headers']);
/** Names (keys, flags, URL parameters) whose values are credentials: CF_ACCESS_CLIENT_SECRET, GITHUB_TOKEN, API_KEY, Authorization, --api-key, --passphrase, sig… */
const SECRET_NAME = /secret|token|passw|pwd|passphrase|(?:^|[-_])pass$|keys?$|api[-_]?keys?|(?:^|[-_])pat$|credential|private|auth|cookie|session|signature|(?:^|[-_])sig$|webhook|(?:^|[-_])dsn$|jwt|otp$|(?:^|[-_.])(?:pin|otp)(?:$|[-_.])/i;
/** A PIN or one-time code as the last word of a camelCase name (userPin, smsOtp; not "spin"). */
const SECRET_SUFFIX = /[a-z0-9](?:Pin|PIN|Otp|OTP)$/;
/** Our own entry's environment that is not a credential: shown, so the teams and hosts configured can be checked. */
const OUR_SETTINGS = new Set(['CF_ACCESS_MCP_TEAMS', 'CF_ACCESS_SERVICE_TOKEN_HOSTS']);
/** A number under a name like lastTotalInputTokens (Claude's ~/.claude.json) counts tokens; it is not one. */
const COUNT_NAME = /tokens$|count$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_STYLE = /^[A-Z][A-Z0-9_]*$/;
/** Credentials shorter than this are masked where they stand but not searched for elsewhere (too likely in ordinary text). */
const MIN_SEARCHED = 8;
/** Longer strings and comments are masked whole, unread: no setting is that long, pasted text is (Claude's ~/.claude.json keeps its history). */
const MAX_SCANNED = 64 * 1024;

/*
 * Every pattern run over a string is linear in its length: those that find a name (a setting, a flag, a URL's
 * scheme, a token's prefix) start with a lookbehind, so that no two attempts start in one run of name characters
 * (`'a-'.repeat(200000)` in Claude's pasted history took minutes), and a value is read only after a name that
 * is masked, from where the name ends (replaceSettings). A JWT may follow a dash (`x-eyJ…`), so its attempts start
 * after any `-eyJ`; its header stops before the next one, so no two attempts read the same characters.
 */
/** A URL, and what sticks to it in front that cannot start a scheme (`.https://`, `-https://`): kept as it is. */
const URL_PATTERN = /(?<![a-z0-9+.-])([0-9+.-]*)([a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+)/gi;
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:)([^/?#\s]*)@/i;
const URL_PARAMETER = /([?&#;])([^=?&#;\s]+)=([^&#;\s]*)/g;
/** A path segment shaped like a UUID: an identifier that often is the credential (`/s/<uuid>/mcp`). */
const URL_UUID = /(?<=\/)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=\/|$)/gi;
/** A value already masked is one word, not "[redacted" and a bracket. */
const WORD = String.raw`\[redacted\]|[^\s"',;&<>()[\]{}]+`;
/** `"NAME": "value"`, `NAME = 'value'`, `--flag='value'`: the name and separator; the quoted value is read by QUOTED_VALUE. */
const QUOTED_SETTING = /(["']?)(?<![\w.-])(-{0,2}[A-Za-z_][\w.-]*)\1([ \t]*[:=][ \t]*)(?=["'])/g;
const QUOTED_VALUE: Record<string, RegExp> = { '"': /"((?:\\.|[^"\\\n])*)"/y, "'": /'((?:\\.|[^'\\\n])*)'/y };
/** `NAME=value`, `--flag=value`, `Authorization: Bearer value`: the name and separator, then BARE_VALUE. */
const BARE_SETTING = /(?<![\w.-])(-{0,2}[A-Za-z_][\w.-]*)([ \t]*[:=][ \t]*)/g;
const BARE_VALUE = new RegExp(String.raw`((?:Bearer|Basic|Token)[ \t]+)?(${WORD})`, 'iy');
/** `--token value`, and `"--token", "value"` (an argument list in a comment): the flag and separator, then FLAG_VALUE. */
const FLAG_PAIR = /(?<![\w.-])(-{1,2}[A-Za-z][\w.-]*)((?:["']?[ \t]*,[ \t]*|[ \t]+)["']?)/g;
const FLAG_VALUE = new RegExp(WORD, 'y');
/** A header flag's value, `X-Api-Key: v4lue` or `Authorization: Bearer v4lue`, unquoted: the name, then one word (or a scheme and one). */
const HEADER_VALUE = new RegExp(String.raw`[!#$%&*+.^_|~0-9A-Za-z-]+:[ \t]*(?:(?:Bearer|Basic|Token)[ \t]+)?(?:${WORD})|(?:${WORD})`, 'iy');
/** curl's `-H` with the header glued to it (`-HX-Api-Key: v4lue`, `-H"X-Api-Key: v4lue"`, as a shell passes `-H'…'`). */
const GLUED_HEADER_FLAG = /(?<![\w.-])-H(?=["']|[!#$%&*+.^_|~0-9A-Za-z-]+:)/g;
/** The rest of a quoted header flag's value, up to its closing quote. */
const QUOTED_HEADER: Record<string, RegExp> = { '"': /(?:\\.|[^"\\\n])*/y, "'": /(?:\\.|[^'\\\n])*/y };
const BEARER = /\b(Bearer|Basic|bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/g;
/** Tokens recognizable by their prefix. */
const TOKEN_SHAPES: RegExp[] = [
  /\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})/g,
  /\bglpat-[A-Za-z0-9_-]{16,}/g,
  /\bxox[abprse]-[A-Za-z0-9-]{8,}/g,
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  /\bAIza[A-Za-z0-9_-]{30,}/g,
  /\b(?:npm|hf)_[A-Za-z0-9]{30,}/g,
  /\bpypi-[A-Za-z0-9_-]{30,}/g,
  /(?<![A-Za-z0-9_])eyJ(?:[A-Za-z0-9_]|-(?!eyJ)){8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?/g,
];
/** `sk-…`/`rk-…` with a digit somewhere (checked on the match: a lookahead would rescan the run from every `sk-` in it). */
const KEY_SHAPE = /\b(?:sk|rk)[-_][A-Za-z0-9_-]{16,}/g;
/** The patterns that find names, for the test that each starts with a lookbehind (see above). */
export const NAME_PATTERNS: readonly RegExp[] = [URL_PATTERN, QUOTED_SETTING, BARE_SETTING, FLAG_PAIR, GLUED_HEADER_FLAG, TOKEN_SHAPES.at(-1)!];
/** A candidate for a random string: see looksRandom. */
const LONG_WORD = /[A-Za-z0-9_-]{24,}/g;

/** What install shows of the file before and after its edit, and of the entries it reports. */
export interface MaskedView {
  /** What `make` (a diff) gives for the file before and after the edit, as shown. */
  render(make: (before: string, after: string) => string): string;
  /** A value from the file (an entry), at `path` from the document's root, as shown. */
  value<T>(value: T, path: KeyPath): T;
}

/** `ours`: the path of our entry (container and name), whose non-secret settings stay visible. */
export function maskedView(format: 'json' | 'toml', before: string, after: string, ours: KeyPath): MaskedView {
  const mask = new ConfigMask(ours);
  const shownBefore = mask.text(before, format);
  const shownAfter = mask.text(after, format);
  // The last pass runs over what is shown (a diff: a few lines), not the whole file (~/.claude.json grows to megabytes).
  return {
    render: (make) => redactWith(make(shownBefore, shownAfter), mask.found()),
    value: (value, path) => redactDeep(mask.value(value, path), mask.found()),
  };
}

class ConfigMask {
  private readonly credentials = new Set<string>();

  constructor(private readonly ours: KeyPath) {}

  /** Credentials seen, longest first, for the last pass (redactWith). */
  found(): string[] {
    return [...this.credentials].sort((a, b) => b.length - a.length);
  }

  private hide(value: string): string {
    if (value.length >= MIN_SEARCHED && !value.includes('\n') && !value.includes(REDACTED)) this.credentials.add(value);
    return REDACTED;
  }

  text(withBom: string, format: 'json' | 'toml'): string {
    const bom = withBom.startsWith('\uFEFF') ? '\uFEFF' : '';
    const text = withBom.slice(bom.length);
    let pieces;
    try {
      pieces = configLiterals(text, format);
    } catch {
      // The TOML scanner did not follow this text (or failed): nothing is shown unmasked.
      return bom + everyValueHidden(text);
    }
    const edits: Array<{ start: number; end: number; text: string }> = [];
    for (const literal of pieces.literals) {
      const shown = this.literal(literal.value, literal.path, literal.previous);
      if (shown !== literal.value) edits.push({ start: literal.start, end: literal.end, text: written(shown, text.slice(literal.start, literal.end)) });
    }
    for (const comment of pieces.comments) {
      const original = text.slice(comment.start, comment.end);
      const shown = original.length > MAX_SCANNED ? commentHidden(original) : this.freeText(original, true);
      if (shown !== original) edits.push({ ...comment, text: shown });
    }
    edits.sort((a, b) => a.start - b.start);
    let out = '';
    let done = 0;
    for (const edit of edits) {
      out += text.slice(done, edit.start) + edit.text;
      done = edit.end;
    }
    return bom + out + text.slice(done);
  }

  value<T>(value: T, path: KeyPath, previous?: string): T {
    if (Array.isArray(value)) {
      let before: string | undefined;
      return value.map((item: unknown, index) => {
        const shown = this.value(item, [...path, index], before);
        before = typeof item === 'string' ? item : undefined;
        return shown;
      }) as T;
    }
    if (value && typeof value === 'object') {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        // A key named __proto__ stays a plain property, as JSON.parse makes it.
        Object.defineProperty(copy, key, { value: this.value(item, [...path, key]), enumerable: true, writable: true, configurable: true });
      }
      return copy as T;
    }
    return this.literal(value, path, previous) as T;
  }

  /** One value of the file, as shown: wholly masked, partly (a URL's password), or as it is. */
  private literal(value: unknown, path: KeyPath, previous: string | undefined): unknown {
    if (typeof value !== 'string' && typeof value !== 'number') return value;
    if (typeof value === 'string' && value.length > MAX_SCANNED) return REDACTED;
    if (this.isOurSetting(path)) return typeof value === 'string' ? this.freeText(value, false, true) : value;
    const key = path.findLast((step): step is string => typeof step === 'string');
    const counted = typeof value === 'number' && key !== undefined && COUNT_NAME.test(key);
    if ((this.underSecretName(path) && !counted) || (previous !== undefined && takesSecret(previous))) return this.hide(String(value));
    if (typeof value === 'string' && previous !== undefined && /^(?:-e|--env)$/.test(previous) && value.includes('=')) {
      return `${value.slice(0, value.indexOf('=') + 1)}${REDACTED}`;
    }
    const holder = path.findLastIndex((step) => typeof step === 'string' && HOLDERS.has(step));
    if (holder >= 0 && !isForwardedName(value, path, holder)) return REDACTED;
    return typeof value === 'string' ? this.freeText(value, false, this.isOurs(path)) : value;
  }

  /**
   * Whether any key on the way to a value is secret-looking: `credentials.value`, `auth: {type, value}`,
   * Claude's `customApiKeyResponses.approved` (the API key's last characters). Not the keys that name our
   * entry and where it stands (the user chose them), nor keys that are paths (Claude's projects).
   */
  private underSecretName(path: KeyPath): boolean {
    const ours = this.isOurs(path) ? this.ours.length : 0;
    return path.some((step, i) => i >= ours && typeof step === 'string' && !/[\\/]/.test(step) && isSecretName(step));
  }

  private isOurs(path: KeyPath): boolean {
    return path.length >= this.ours.length && this.ours.every((step, i) => path[i] === step);
  }

  private isOurSetting(path: KeyPath): boolean {
    const at = this.ours.length;
    return (
      path.length === at + 2 &&
      this.ours.every((step, i) => path[i] === step) &&
      (path[at] === 'env' || path[at] === 'environment') &&
      OUR_SETTINGS.has(String(path[at + 1]))
    );
  }

  /** A string (a value, an argument, a comment) with every credential in it masked; `comment`: also environment-style settings; `ours`: in our entry. */
  freeText(text: string, comment: boolean, ours = false): string {
    let out = text.replace(URL_PATTERN, (_all, lead: string, url: string) => lead + this.url(url, ours));
    // `-H "X-Api-Key: v4lue"` first: the header line whole, its name included, up to the closing quote (or, unquoted, the
    // name and one word), before the settings below read `X-Api-Key:` inside it as a name of their own.
    out = replaceSettings(out, FLAG_PAIR, ([, flag, separator], at, text) => {
      if (!isHeaderFlag(flag!)) return undefined;
      const header = valueAt(QUOTED_HEADER[separator!.at(-1)!] ?? HEADER_VALUE, text, at);
      if (!header || header[0] === '' || header[0] === REDACTED || header[0] === '=' || header[0] === ':') return undefined;
      return { text: `${flag}${separator}${this.hide(header[0])}`, end: at + header[0].length };
    });
    out = replaceSettings(out, GLUED_HEADER_FLAG, (_flag, at, text) => {
      const quote = QUOTED_HEADER[text[at]!] ? text[at]! : '';
      const header = valueAt(QUOTED_HEADER[quote] ?? HEADER_VALUE, text, at + quote.length);
      if (!header || header[0] === '' || header[0] === REDACTED) return undefined;
      return { text: `-H${quote}${this.hide(header[0])}`, end: at + quote.length + header[0].length };
    });
    out = replaceSettings(out, QUOTED_SETTING, (head, at, text) => {
      const [, q, name, separator] = head;
      const secret = isSecretName(name!) || isHeaderFlag(name!);
      if (!secret && !(comment && ENV_STYLE.test(name!))) return undefined;
      const quoted = valueAt(QUOTED_VALUE[text[at]!]!, text, at);
      const value = quoted?.[1];
      if (!quoted || value === '' || value === REDACTED) return undefined;
      const vq = text[at]!;
      return { text: `${q}${name}${q}${separator}${vq}${secret ? this.hide(value!) : REDACTED}${vq}`, end: at + quoted[0].length };
    });
    out = replaceSettings(out, BARE_SETTING, ([, name, separator], at, text) => {
      if (isHeaderFlag(name!) && separator!.includes('=')) {
        // `-H=X-Api-Key: v4lue`: the whole header, as an argument list shows `-H`'s next argument.
        const header = valueAt(HEADER_VALUE, text, at);
        if (!header || header[0] === REDACTED) return undefined;
        return { text: `${name}${separator}${this.hide(header[0])}`, end: at + header[0].length };
      }
      if (!isSecretName(name!)) return undefined;
      const found = valueAt(BARE_VALUE, text, at);
      if (!found || found[2] === REDACTED) return undefined;
      return { text: `${name}${separator}${found[1] ?? ''}${this.hide(found[2]!)}`, end: at + found[0].length };
    });
    out = replaceSettings(out, FLAG_PAIR, ([, flag, separator], at, text) => {
      if (!takesSecret(flag!) || isHeaderFlag(flag!)) return undefined;
      const found = valueAt(FLAG_VALUE, text, at);
      // A lone `=` or `:` is the separator of `--token = value`, which the settings above have read.
      if (!found || found[0] === REDACTED || found[0] === '=' || found[0] === ':') return undefined;
      return { text: `${flag}${separator}${this.hide(found[0])}`, end: at + found[0].length };
    });
    out = out.replace(BEARER, (_all, scheme: string, space: string, value: string) => `${scheme}${space}${this.hide(value)}`);
    for (const shape of TOKEN_SHAPES) out = out.replace(shape, (token) => this.hide(token));
    out = out.replace(KEY_SHAPE, (key) => (/\d/.test(key) ? this.hide(key) : key));
    return out.replace(LONG_WORD, (word) => (looksRandom(word) ? this.hide(word) : word));
  }

  /**
   * A URL with its password, UUID-shaped path segments and query values masked; the rest stays readable.
   * In our own entry (URLs we wrote) only secret-looking query parameters are masked.
   */
  private url(url: string, ours: boolean): string {
    const query = url.search(/[?#]/);
    const path = query < 0 ? url : url.slice(0, query);
    const rest = query < 0 ? '' : url.slice(query);
    const shownPath = path
      .replace(URL_PASSWORD, (all, head: string, password: string) => (password ? `${head}${this.hide(password)}@` : all))
      .replace(URL_UUID, (id) => this.hide(id));
    return (shownPath + rest).replace(URL_PARAMETER, (all, separator: string, name: string, value: string) => {
      if (!value || value === REDACTED) return all;
      if (isSecretName(decoded(name))) return `${separator}${name}=${this.hide(value)}`;
      return ours ? all : `${separator}${name}=${REDACTED}`;
    });
  }
}

/**
 * `text` with settings replaced: `head` (global) finds a name and its separator, and `edit` returns the
 * replacement and where the value it read ends, or undefined to leave it. The search goes on after the
 * value replaced, or after the head (`old: --token=x` is not one setting named "old"), never back into it.
 */
function replaceSettings(text: string, head: RegExp, edit: (match: RegExpExecArray, at: number, text: string) => { text: string; end: number } | undefined): string {
  let out = '';
  let done = 0;
  head.lastIndex = 0;
  for (let match = head.exec(text); match; match = head.exec(text)) {
    const at = match.index + match[0].length;
    const replaced = edit(match, at, text);
    if (replaced) {
      out += text.slice(done, match.index) + replaced.text;
      done = replaced.end;
    }
    head.lastIndex = replaced?.end ?? at;
  }
  return out + text.slice(done);
}

/** What the sticky `pattern` matches at `at` in `text`. */
function valueAt(pattern: RegExp, text: string, at: number): RegExpExecArray | null {
  pattern.lastIndex = at;
  return pattern.exec(text);
}

function isSecretName(name: string): boolean {
  const bare = name.replace(/^-+/, '');
  return SECRET_NAME.test(bare) || SECRET_SUFFIX.test(bare);
}

/** A flag whose next argument is a credential: --token, --api-key, --password, -H/--header. */
function takesSecret(flag: string): boolean {
  const named = /^-{1,2}([A-Za-z][\w.-]*)$/.exec(flag)?.[1];
  return named !== undefined && (isSecretName(named) || isHeaderFlag(flag));
}

/** curl's and most tools' header flag (-H, --header, --headers): its value is a whole header line. */
function isHeaderFlag(flag: string): boolean {
  return /^(?:-H|-{1,2}headers?)$/i.test(flag) && flag !== '-h';
}

/** Codex's `env_vars = ["NAME", …]` lists variables to forward by name: names, not values. */
function isForwardedName(value: unknown, path: KeyPath, holder: number): boolean {
  return path[holder] === 'env_vars' && path.length === holder + 2 && typeof path[holder + 1] === 'number' && typeof value === 'string' && ENV_NAME.test(value);
}

/** Letters and digits mixed, a long unbroken run, and varied characters: a key or token, not a word or a path. */
function looksRandom(word: string): boolean {
  let longestRun = 0;
  for (let i = 0, run = 0; i < word.length; i++) {
    run = /[A-Za-z0-9]/.test(word[i]!) ? run + 1 : 0;
    longestRun = Math.max(longestRun, run);
  }
  const digits = word.replace(/\D/g, '').length;
  const letters = word.replace(/[^A-Za-z]/g, '').length;
  return longestRun >= 16 && digits >= 2 && letters >= 2 && entropy(word) >= 3.5;
}

/** Shannon entropy in bits per character. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

function decoded(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** A masked value as written in place of `original`: a quoted string, with the line breaks the original spanned (the lines stay lines). */
function written(shown: unknown, original: string): string {
  return JSON.stringify(shown) + (original.match(/\r?\n/g) ?? []).join('');
}

/** A comment masked whole: still a comment of the same kind, over the same lines. */
function commentHidden(comment: string): string {
  const breaks = (comment.match(/\r?\n/g) ?? []).join('');
  if (comment.startsWith('/*')) return `/* ${REDACTED}${breaks} */`;
  return `${comment.startsWith('#') ? '#' : '//'} ${REDACTED}${breaks}`;
}

const TOML_KEY = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')`;
const TOML_KEYS = String.raw`${TOML_KEY}(?:[ \t]*\.[ \t]*${TOML_KEY})*`;
/** A table header, with nothing after it but a comment. */
const HEADER_LINE = new RegExp(String.raw`^[ \t]*\[\[?[ \t]*${TOML_KEYS}[ \t]*\]\]?(?=[ \t]*(?:#|$))`);
/** `key =`, `a."b".c =` at the start of a line. */
const KEY_LINE = new RegExp(String.raw`^[ \t]*${TOML_KEYS}[ \t]*=`);

type MultiLine = '"""' | "'''";
/** What is open at the end of a line: a multi-line string, and how many arrays (`[`). */
interface Open {
  string: MultiLine | undefined;
  arrays: number;
}

/**
 * When the scanner cannot follow a TOML text: table headers and `key =` stay, every value and comment is
 * masked, and so is every line inside a multi-line string, whatever it looks like (`[SEKRIT]`, `PGPASSWORD x --set=`).
 * A header is one only outside every array: `["SEKRIT"]` as an array's last element is a value.
 */
function everyValueHidden(text: string): string {
  let open: Open = { string: undefined, arrays: 0 };
  return text
    .split('\n')
    .map((withCr) => {
      const cr = withCr.endsWith('\r') ? '\r' : '';
      const line = withCr.slice(0, withCr.length - cr.length);
      const header = open.arrays === 0 ? HEADER_LINE.exec(line) : null;
      const head = open.string ? '' : ((header ?? KEY_LINE.exec(line))?.[0] ?? '');
      open = openAfter(line, head.length, open);
      return (line.slice(head.length).trim() ? `${head} ${REDACTED}` : line) + cr;
    })
    .join('\n');
}

/** What is still open at the end of `line`, read from `from` with `open` open there. */
function openAfter(line: string, from: number, open: Open): Open {
  let { string, arrays } = open;
  let i = from;
  while (i < line.length) {
    if (string) {
      const close = string === "'''" ? line.indexOf(string, i) : basicClose(line, i);
      if (close < 0) break;
      i = close + 3;
      // Up to two quotes right before the closing three belong to the string.
      for (let extra = 0; extra < 2 && line[i] === string[0]; extra++) i++;
      string = undefined;
    } else if (line[i] === '#') {
      break;
    } else if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      string = line.slice(i, i + 3) as MultiLine;
      i += 3;
    } else if (line[i] === '"') {
      for (i++; i < line.length && line[i] !== '"'; i += line[i] === '\\' ? 2 : 1);
      i++;
    } else if (line[i] === "'") {
      const close = line.indexOf("'", i + 1);
      i = close < 0 ? line.length : close + 1;
    } else {
      if (line[i] === '[') arrays++;
      else if (line[i] === ']' && arrays > 0) arrays--;
      i++;
    }
  }
  return { string, arrays };
}

/** Where `"""` closes a multi-line basic string in `line` from `from` (escapes skipped), or -1. */
function basicClose(line: string, from: number): number {
  for (let i = from; i < line.length; i += line[i] === '\\' ? 2 : 1) if (line.startsWith('"""', i)) return i;
  return -1;
}
