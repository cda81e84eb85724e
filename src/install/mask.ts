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
 * - every value under a secret-looking key (SECRET_NAME), however short;
 * - in any string (arguments, URLs, comments): a value after a secret-looking
 *   flag (`--token x`, `--api-key=x`) or setting (`TOKEN=x`, `Authorization: Bearer x`),
 *   a URL's password and secret-looking query parameters, token-shaped words
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
/** Names (keys, flags, URL parameters) whose values are credentials: CF_ACCESS_CLIENT_SECRET, GITHUB_TOKEN, API_KEY, Authorization, --api-key, sig… */
const SECRET_NAME = /secret|token|passw|pwd|(?:^|[-_])pass$|keys?$|(?:^|[-_])pat$|credential|private|auth|cookie|session|signature|(?:^|[-_])sig$|webhook|(?:^|[-_])dsn$/i;
/** Our own entry's environment that is not a credential: shown, so the teams and hosts configured can be checked. */
const OUR_SETTINGS = new Set(['CF_ACCESS_MCP_TEAMS', 'CF_ACCESS_SERVICE_TOKEN_HOSTS']);
/** A number under a name like lastTotalInputTokens (Claude's ~/.claude.json) counts tokens; it is not one. */
const COUNT_NAME = /tokens$|count$/i;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_STYLE = /^[A-Z][A-Z0-9_]*$/;
/** Credentials shorter than this are masked where they stand but not searched for elsewhere (too likely in ordinary text). */
const MIN_SEARCHED = 8;

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:)([^/?#\s]*)@/i;
const URL_PARAMETER = /([?&#;])([^=&#;\s]+)=([^&#;\s]*)/g;
/** A value already masked is one word, not "[redacted" and a bracket. */
const WORD = String.raw`\[redacted\]|[^\s"',;&<>()[\]{}]+`;
/** `"NAME": "value"`, `NAME = 'value'`. */
const QUOTED_SETTING = /(["']?)([A-Za-z_][\w.-]*)\1([ \t]*[:=][ \t]*)(["'])((?:\\.|(?!\4)[^\\\n])*)\4/g;
/** `NAME=value`, `--flag=value`, `Authorization: Bearer value`. */
const BARE_SETTING = new RegExp(String.raw`(?<![\w.-])(-{0,2}[A-Za-z_][\w.-]*)([ \t]*[:=][ \t]*)((?:Bearer|Basic|Token)[ \t]+)?(${WORD})`, 'gi');
/** `--token value`, and `"--token", "value"` (an argument list in a comment). */
const FLAG_PAIR = new RegExp(String.raw`(?<![\w-])(-{1,2}[A-Za-z][\w.-]*)((?:["']?[ \t]*,[ \t]*|[ \t]+)["']?)(${WORD})`, 'g');
const BEARER = /\b(Bearer|Basic|bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/g;
/** Tokens recognizable by their prefix. */
const TOKEN_SHAPES: RegExp[] = [
  /\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})/g,
  /\bglpat-[A-Za-z0-9_-]{16,}/g,
  /\bxox[abprse]-[A-Za-z0-9-]{8,}/g,
  /\b(?:sk|rk)[-_](?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}/g,
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g,
  /\bAIza[A-Za-z0-9_-]{30,}/g,
  /\b(?:npm|hf)_[A-Za-z0-9]{30,}/g,
  /\bpypi-[A-Za-z0-9_-]{30,}/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?/g,
];
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
      const shown = this.freeText(original, true);
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
    if (this.isOurSetting(path)) return typeof value === 'string' ? this.freeText(value, false) : value;
    const key = path.findLast((step): step is string => typeof step === 'string');
    const counted = typeof value === 'number' && key !== undefined && COUNT_NAME.test(key);
    if ((key !== undefined && SECRET_NAME.test(key) && !counted) || (previous !== undefined && takesSecret(previous))) return this.hide(String(value));
    if (typeof value === 'string' && previous !== undefined && /^(?:-e|--env)$/.test(previous) && value.includes('=')) {
      return `${value.slice(0, value.indexOf('=') + 1)}${REDACTED}`;
    }
    const holder = path.findLastIndex((step) => typeof step === 'string' && HOLDERS.has(step));
    if (holder >= 0 && !isForwardedName(value, path, holder)) return REDACTED;
    return typeof value === 'string' ? this.freeText(value, false) : value;
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

  /** A string (a value, an argument, a comment) with every credential in it masked; `comment`: also environment-style settings. */
  private freeText(text: string, comment: boolean): string {
    let out = text.replace(URL_PATTERN, (url) => this.url(url));
    out = replaceEach(out, QUOTED_SETTING, ([, q, name, separator, vq, value]) => {
      if (value === '' || value === REDACTED) return undefined;
      const secret = isSecretName(name!);
      if (!secret && !(comment && ENV_STYLE.test(name!))) return undefined;
      return `${q}${name}${q}${separator}${vq}${secret ? this.hide(value!) : REDACTED}${vq}`;
    });
    out = replaceEach(out, BARE_SETTING, ([, name, separator, scheme, value]) =>
      isSecretName(name!) && value !== REDACTED ? `${name}${separator}${scheme ?? ''}${this.hide(value!)}` : undefined,
    );
    out = replaceEach(out, FLAG_PAIR, ([, flag, separator, value]) => (takesSecret(flag!) && value !== REDACTED ? `${flag}${separator}${this.hide(value!)}` : undefined));
    out = out.replace(BEARER, (_all, scheme: string, space: string, value: string) => `${scheme}${space}${this.hide(value)}`);
    for (const shape of TOKEN_SHAPES) out = out.replace(shape, (token) => this.hide(token));
    return out.replace(LONG_WORD, (word) => (looksRandom(word) ? this.hide(word) : word));
  }

  /** A URL with its password and secret-looking query parameters masked; the rest stays readable. */
  private url(url: string): string {
    return url
      .replace(URL_PASSWORD, (all, head: string, password: string) => (password ? `${head}${this.hide(password)}@` : all))
      .replace(URL_PARAMETER, (all, separator: string, name: string, value: string) => (value && isSecretName(decoded(name)) ? `${separator}${name}=${this.hide(value)}` : all));
  }
}

/**
 * `text` with matches of `pattern` replaced by what `edit` returns; where it returns undefined the match
 * stays, and the search goes on from its next character (`old: --token=x` is not one setting named "old").
 */
function replaceEach(text: string, pattern: RegExp, edit: (match: RegExpExecArray) => string | undefined): string {
  let out = '';
  let done = 0;
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    const replaced = edit(match);
    if (replaced === undefined) {
      pattern.lastIndex = match.index + 1;
      continue;
    }
    out += text.slice(done, match.index) + replaced;
    done = pattern.lastIndex = match.index + match[0].length;
  }
  return out + text.slice(done);
}

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.replace(/^-+/, ''));
}

/** A flag whose next argument is a credential: --token, --api-key, --password, -H/--header. */
function takesSecret(flag: string): boolean {
  const named = /^-{1,2}([A-Za-z][\w.-]*)$/.exec(flag)?.[1];
  return named !== undefined && (SECRET_NAME.test(named) || named === 'H' || /^headers?$/i.test(named));
}

/** Codex's `env_vars = ["NAME", …]` lists variables to forward by name: names, not values. */
function isForwardedName(value: unknown, path: KeyPath, holder: number): boolean {
  return path[holder] === 'env_vars' && path.length === holder + 2 && typeof path[holder + 1] === 'number' && typeof value === 'string' && ENV_NAME.test(value);
}

/** Letters and digits mixed, a long unbroken run, and varied characters: a key or token, not a word or a path. */
function looksRandom(word: string): boolean {
  const longestRun = Math.max(...(word.match(/[A-Za-z0-9]+/g) ?? ['']).map((run) => run.length));
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

/** When the scanner cannot follow a TOML text: keys and table headers stay, every value and comment is masked. */
function everyValueHidden(text: string): string {
  return text.replace(/^([ \t]*(?:\[\[?[^\]#\n]*\]\]?|[A-Za-z0-9_."' -]+=)?)[ \t]*([^\r\n]*)/gm, (all, head: string, rest: string) => (rest ? `${head} ${REDACTED}` : all));
}
