import { Transform, type TransformCallback } from 'node:stream';
import type { SecretNeedles } from '../core/secret-scrubber.js';

const CONTINUATION = 0x0;

interface FrameHeader {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  size: number;
  length: number;
}

/** A frame header (RFC 6455 §5.2) at the start of `data`, or undefined when it is not all there yet. */
function headerAt(data: Buffer): FrameHeader | undefined {
  if (data.length < 2) return undefined;
  const fin = (data[0]! & 0x80) !== 0;
  const rsv = data[0]! & 0x70;
  const opcode = data[0]! & 0x0f;
  const masked = (data[1]! & 0x80) !== 0;
  let length = data[1]! & 0x7f;
  let size = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    size = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    length = Number(data.readBigUInt64BE(2));
    size = 10;
  }
  if (masked) size += 4;
  return data.length < size ? undefined : { fin, rsv, opcode, masked, size, length };
}

/** An unmasked server frame header. */
function frameHeader(opcode: number, length: number, fin: boolean): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  if (length < 126) return Buffer.from([first, length]);
  if (length < 65536) return Buffer.from([first, 126, length >> 8, length & 0xff]);
  const head = Buffer.from([first, 127, 0, 0, 0, 0, 0, 0, 0, 0]);
  head.writeBigUInt64BE(BigInt(length), 2);
  return head;
}

/**
 * The server-to-client half of a WebSocket, with our secrets masked in every
 * message (same length). A message that fits in what has arrived passes as
 * it came; a longer one streams through re-fragmented (an intermediary may
 * change fragmentation when no extension is in use, RFC 6455 §5.4): only the
 * last bytes that could start a secret are held back, also across the
 * origin's fragment boundaries, so a token cut into pieces is still found.
 * A frame it cannot read — masked (a server must not mask) or compressed
 * (RSV bits: the proxy offers no extension) — ends the connection instead of
 * passing unseen.
 */
export class WebSocketScrubber extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current data frame still to come. */
  private remaining = 0;
  private fin = true;
  /** The opcode of the message in progress, and whether its first fragment has gone out. */
  private opcode = 0x1;
  private started = false;
  /** Masked, not yet sent: the end of the message so far, which a secret may continue from. */
  private held: Buffer = Buffer.alloc(0);

  constructor(private readonly needles: SecretNeedles) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    try {
      while (this.step());
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    // The origin closed in the middle of a message: what it sent goes on, checked, as far as it came.
    if (this.held.length) this.fragment(this.held, false);
    done(null, this.pending.length ? this.pending : undefined);
  }

  /** Handles what `pending` allows; false when more bytes are needed. */
  private step(): boolean {
    if (this.remaining > 0) {
      if (this.pending.length === 0) return false;
      const take = Math.min(this.remaining, this.pending.length);
      const window = Buffer.concat([this.held, this.pending.subarray(0, take)]);
      this.pending = this.pending.subarray(take);
      this.remaining -= take;
      this.needles.mask(window);
      const last = this.remaining === 0 && this.fin;
      const cut = last ? window.length : Math.max(0, window.length - this.needles.keep);
      this.held = window.subarray(cut);
      if (cut > 0 || last) this.fragment(window.subarray(0, cut), last);
      return true;
    }
    const header = headerAt(this.pending);
    if (!header) return false;
    if (header.masked || header.rsv !== 0) throw new Error('the origin sent a WebSocket frame the proxy cannot check (masked or compressed)');
    const whole = this.pending.length >= header.size + header.length;
    if (header.opcode >= 0x8) {
      // A control frame (at most 125 bytes) goes on at once, whole, its payload masked on its own.
      if (!whole) return false;
      this.push(Buffer.from(this.pending.subarray(0, header.size)));
      this.push(this.masked(this.pending.subarray(header.size, header.size + header.length)));
      this.pending = this.pending.subarray(header.size + header.length);
      return true;
    }
    if (header.opcode !== CONTINUATION) {
      this.opcode = header.opcode;
      this.started = false;
      this.held = Buffer.alloc(0);
      if (header.fin && whole) {
        // The common case: a whole message in one frame that has arrived. It goes on as it came.
        this.push(Buffer.from(this.pending.subarray(0, header.size)));
        this.push(this.masked(this.pending.subarray(header.size, header.size + header.length)));
        this.pending = this.pending.subarray(header.size + header.length);
        return true;
      }
    }
    this.pending = this.pending.subarray(header.size);
    this.remaining = header.length;
    this.fin = header.fin;
    if (header.length === 0 && header.fin) {
      this.fragment(this.held, true);
      this.held = Buffer.alloc(0);
    }
    return true;
  }

  /** One frame of the message in progress: the first carries its opcode, later ones are continuations. */
  private fragment(payload: Buffer, fin: boolean): void {
    this.push(frameHeader(this.started ? CONTINUATION : this.opcode, payload.length, fin));
    if (payload.length) this.push(Buffer.from(payload));
    this.started = !fin;
  }

  private masked(payload: Buffer): Buffer {
    const copy = Buffer.from(payload);
    this.needles.mask(copy);
    return copy;
  }
}
