import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';

/** The same number of bytes as the secret, so a Content-Length stays true. */
function maskFor(length: number): Buffer {
  return Buffer.from(('[redacted]' + '*'.repeat(length)).slice(0, length), 'latin1');
}

/**
 * Replaces every occurrence of the given secrets in a byte stream with a mask
 * of the same length, without buffering more than the longest secret: a site
 * that echoes the request headers it received must not hand our credential to
 * the local client. Only literal occurrences are found (compressed bodies are
 * avoided by asking the origin for identity encoding).
 */
export class SecretScrubber extends Transform {
  private readonly needles: Array<{ bytes: Buffer; mask: Buffer }>;
  private readonly keep: number;
  private tail: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[]) {
    super();
    this.needles = [...new Set(secrets.filter((s) => s.length >= 8))].map((s) => ({ bytes: Buffer.from(s, 'utf8'), mask: maskFor(Buffer.byteLength(s)) }));
    this.keep = Math.max(0, ...this.needles.map((n) => n.bytes.length - 1));
  }

  get active(): boolean {
    return this.needles.length > 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.needles.length === 0) return done(null, chunk);
    if (chunk.length <= this.keep) {
      this.tail = Buffer.concat([this.tail, chunk]);
      this.mask(this.tail);
      if (this.tail.length > this.keep) {
        const out = this.tail.subarray(0, this.tail.length - this.keep);
        this.tail = Buffer.from(this.tail.subarray(this.tail.length - this.keep));
        return done(null, out);
      }
      return done();
    }
    // A secret split across the boundary: look in the held-back tail plus the start of this chunk, masking both in place.
    if (this.tail.length) {
      const window = Buffer.concat([this.tail, chunk.subarray(0, this.keep)]);
      this.mask(window);
      window.copy(this.tail, 0, 0, this.tail.length);
      window.copy(chunk, 0, this.tail.length);
      this.push(this.tail);
    }
    this.mask(chunk);
    // Hold back what could be the start of a secret that the next chunk completes.
    this.tail = Buffer.from(chunk.subarray(chunk.length - this.keep));
    done(null, chunk.subarray(0, chunk.length - this.keep));
  }

  override _flush(done: TransformCallback): void {
    done(null, this.tail.length ? this.tail : undefined);
  }

  private mask(data: Buffer): void {
    for (const { bytes, mask } of this.needles) {
      for (let at = data.indexOf(bytes); at !== -1; at = data.indexOf(bytes, at + bytes.length)) mask.copy(data, at);
    }
  }
}

/** `body` with the secrets masked (itself when there is nothing to mask); errors and destruction travel both ways. */
export function scrubbedStream(body: Readable, secrets: readonly string[]): Readable {
  const scrubber = new SecretScrubber(secrets);
  if (!scrubber.active) return body;
  return pipeline(body, scrubber, () => {});
}
