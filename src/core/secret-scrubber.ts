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
 * The byte patterns of a set of secrets (8 characters or more), prepared once:
 * `mask` overwrites every occurrence in a buffer in place with a mask of the
 * same length. Buffer#indexOf is a native substring search, so a body with no
 * secret in it costs one scan per pattern and no copy.
 */
export class SecretNeedles {
  private readonly needles: Array<{ bytes: Buffer; mask: Buffer }>;
  /** How many bytes a stream must hold back so that a secret split across chunks is still found. */
  readonly keep: number;

  constructor(secrets: readonly string[]) {
    const forms = new Set(secrets.filter((s) => s.length >= 8).flatMap(formsOf));
    this.needles = [...forms].map((s) => ({ bytes: Buffer.from(s, 'utf8'), mask: maskFor(Buffer.byteLength(s)) }));
    this.keep = Math.max(0, ...this.needles.map((n) => n.bytes.length - 1));
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  mask(data: Buffer): void {
    for (const { bytes, mask } of this.needles) {
      for (let at = data.indexOf(bytes); at !== -1; at = data.indexOf(bytes, at + bytes.length)) mask.copy(data, at);
    }
  }
}

const NOTHING = Buffer.alloc(0);

/**
 * The masking of a byte stream without a stream around it: each chunk is
 * masked in place and handed on, less the last bytes that could be the start
 * of a secret the next chunk completes (held back, at most the longest secret
 * less one byte). Callers without a Transform (the proxy's relay, which writes
 * straight to the client's socket) use it directly.
 */
export class StreamMask {
  private tail: Buffer = NOTHING;

  constructor(private readonly needles: SecretNeedles) {}

  /** Masks `chunk` (in place) and passes on, through `emit`, what can go out now: none, one or two buffers. */
  push(chunk: Buffer, emit: (part: Buffer) => void): void {
    const keep = this.needles.keep;
    if (chunk.length <= keep) {
      this.tail = this.tail.length ? Buffer.concat([this.tail, chunk]) : Buffer.from(chunk);
      this.needles.mask(this.tail);
      if (this.tail.length > keep) {
        emit(this.tail.subarray(0, this.tail.length - keep));
        this.tail = Buffer.from(this.tail.subarray(this.tail.length - keep));
      }
      return;
    }
    // A secret split across the boundary: look in the held-back tail plus the start of this chunk, masking both in place.
    if (this.tail.length) {
      const window = Buffer.concat([this.tail, chunk.subarray(0, keep)]);
      this.needles.mask(window);
      window.copy(this.tail, 0, 0, this.tail.length);
      window.copy(chunk, 0, this.tail.length);
      emit(this.tail);
    }
    this.needles.mask(chunk);
    // Hold back what could be the start of a secret that the next chunk completes.
    this.tail = Buffer.from(chunk.subarray(chunk.length - keep));
    emit(chunk.subarray(0, chunk.length - keep));
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
