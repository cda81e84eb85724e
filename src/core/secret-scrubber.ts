import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';

/** The same number of bytes as the secret, so a Content-Length (or a WebSocket frame length) stays true. */
function maskFor(length: number): Buffer {
  return Buffer.from(('[redacted]' + '*'.repeat(length)).slice(0, length), 'latin1');
}

/**
 * The literal forms a secret may take in a body that echoes it: as is, with
 * `/` escaped for JSON (`\/`, as PHP and others write it), and percent-encoded
 * (a query string or form echoed back). A JWT or hex secret has one form only.
 */
function formsOf(secret: string): string[] {
  return [...new Set([secret, secret.replaceAll('/', '\\/'), encodeURIComponent(secret)])];
}

/**
 * Uppercase letters, the rarest in English text first: seldom seen in text,
 * HTML or JSON. Buffer#indexOf looks for a pattern's first byte before
 * anything else; a common one (the 'e' of every JWT's "eyJ") stops it every
 * few bytes, a rare one lets it skip ahead at native speed.
 */
const RARE_IN_TEXT = 'QJZXKVBYWGPFMUCLDHRSNIOATE';

const rarity = (byte: number | undefined): number => {
  const rank = byte === undefined ? -1 : RARE_IN_TEXT.indexOf(String.fromCharCode(byte));
  return rank === -1 ? RARE_IN_TEXT.length : rank;
};

/** Where a search for the pattern starts: its rarest byte that leaves 8 or more after it (0 when none is rarer than the first). */
function anchorOf(bytes: Buffer): number {
  let anchor = 0;
  for (let i = 1; i + 8 <= bytes.length; i++) if (rarity(bytes[i]) < rarity(bytes[anchor])) anchor = i;
  return anchor;
}

/**
 * The byte patterns of a set of secrets (8 characters or more), prepared once:
 * `mask` overwrites every occurrence in a buffer in place with a mask of the
 * same length. Buffer#indexOf is a native substring search, so a body with no
 * secret in it costs one scan per pattern and no copy.
 */
export class SecretNeedles {
  private readonly needles: Array<{ bytes: Buffer; head: Buffer; mask: Buffer; anchor: number; rest: Buffer }>;
  /** How many bytes a stream must hold back so that a secret split across chunks is still found. */
  readonly keep: number;

  constructor(secrets: readonly string[]) {
    const forms = new Set(secrets.filter((s) => s.length >= 8).flatMap(formsOf));
    this.needles = [...forms].map((s) => {
      const bytes = Buffer.from(s, 'utf8');
      const anchor = anchorOf(bytes);
      return { bytes, head: bytes.subarray(0, 2), mask: maskFor(bytes.length), anchor, rest: bytes.subarray(anchor) };
    });
    this.keep = Math.max(0, ...this.needles.map((n) => n.bytes.length - 1));
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  mask(data: Buffer): void {
    for (const { bytes, mask, anchor, rest } of this.needles) {
      // Found by its part from the anchor on, then checked before it: the matches a search for the whole pattern finds, found sooner.
      for (let at = data.indexOf(rest, anchor); at !== -1; ) {
        const start = at - anchor;
        if (anchor === 0 || bytes.compare(data, start, at, 0, anchor) === 0) {
          mask.copy(data, start);
          at = data.indexOf(rest, start + bytes.length + anchor);
        } else {
          at = data.indexOf(rest, at + 1);
        }
      }
    }
  }

  /**
   * Where the end of `data` that could be the start of a secret (a proper
   * prefix of a pattern) begins; data.length when no end of it could be.
   * Only these bytes need to wait for the next chunk of a stream.
   */
  partialFrom(data: Buffer): number {
    let from = data.length;
    for (const { bytes, head } of this.needles) {
      const start = Math.max(0, data.length - bytes.length + 1);
      // The earliest position whose rest of `data` the pattern starts with (found by its first two bytes).
      for (let at = data.indexOf(head, start); at !== -1 && at < from; at = data.indexOf(head, at + 1)) {
        if (bytes.compare(data, at, data.length, 0, data.length - at) === 0) {
          from = at;
          break;
        }
      }
      // The last byte alone may start a pattern (its two-byte head cannot be found there).
      const last = data.length - 1;
      if (last >= start && last < from && data[last] === bytes[0]) from = last;
    }
    return from;
  }
}

const NOTHING = Buffer.alloc(0);

/**
 * The masking of a byte stream without a stream around it: each chunk is
 * masked in place and handed on, less the last bytes that could be the start
 * of a secret the next chunk completes (held back: only bytes that are a
 * proper prefix of a secret, so most chunks go on whole, without a copy). Callers without a Transform (the proxy's relay, which writes
 * straight to the client's socket) use it directly.
 */
export class StreamMask {
  private tail: Buffer = NOTHING;

  constructor(private readonly needles: SecretNeedles) {}

  /** Masks `chunk` (in place unless something was held back) and passes on, through `emit`, what can go out now. */
  push(chunk: Buffer, emit: (part: Buffer) => void): void {
    // Held-back bytes and the new chunk in one buffer (a copy only then: rarely, as a chunk seldom ends in the start of a secret).
    const data = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    this.needles.mask(data);
    const cut = this.needles.partialFrom(data);
    this.tail = cut < data.length ? Buffer.from(data.subarray(cut)) : NOTHING;
    if (cut > 0) emit(cut < data.length ? data.subarray(0, cut) : data);
  }

  /** What was held back, masked (empty when nothing was). */
  end(): Buffer {
    const tail = this.tail;
    this.tail = NOTHING;
    return tail;
  }
}

/**
 * Replaces every occurrence of the given secrets in a byte stream with a mask
 * of the same length, without buffering more than the longest secret: a site
 * that echoes the request headers it received must not hand our credential to
 * the local client. Only literal occurrences are found (compressed bodies are
 * avoided by asking the origin for identity encoding).
 */
export class SecretScrubber extends Transform {
  private readonly needles: SecretNeedles;
  private readonly masker: StreamMask;
  private readonly pass = (part: Buffer): void => void this.push(part);

  constructor(secrets: readonly string[] | SecretNeedles, highWaterMark?: number) {
    super(highWaterMark === undefined ? {} : { highWaterMark });
    this.needles = secrets instanceof SecretNeedles ? secrets : new SecretNeedles(secrets);
    this.masker = new StreamMask(this.needles);
  }

  get active(): boolean {
    return !this.needles.empty;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.needles.empty) return done(null, chunk);
    this.masker.push(chunk, this.pass);
    done();
  }

  override _flush(done: TransformCallback): void {
    const tail = this.masker.end();
    done(null, tail.length ? tail : undefined);
  }
}

/** `body` with the secrets masked (itself when there is nothing to mask); errors and destruction travel both ways. */
export function scrubbedStream(body: Readable, secrets: readonly string[]): Readable {
  const scrubber = new SecretScrubber(secrets);
  if (!scrubber.active) return body;
  return pipeline(body, scrubber, () => {});
}
