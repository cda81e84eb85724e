import { Transform, type TransformCallback } from 'node:stream';

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
    const data = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    this.mask(data);
    // Hold back what could be the start of a secret split across chunks.
    const cut = Math.max(0, data.length - this.keep);
    this.tail = Buffer.from(data.subarray(cut));
    done(null, cut > 0 ? data.subarray(0, cut) : undefined);
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
