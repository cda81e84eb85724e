import { Transform, type TransformCallback } from 'node:stream';
import type { SecretNeedles } from '../core/secret-scrubber.js';

const CONTINUATION = 0x0;

/** A frame header (RFC 6455 §5.2) at the start of `data`, or undefined when it is not all there yet. */
function headerAt(data: Buffer): { fin: boolean; rsv: number; opcode: number; masked: boolean; size: number; length: number } | undefined {
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

/**
 * The server-to-client half of a WebSocket, with our secrets masked in every
 * message (same length, so every frame header stays true). Frames stream
 * through: only the last bytes that could start a secret are held back, also
 * across the fragments of one message. A frame it cannot read — masked (a
 * server must not mask), or compressed (RSV bits: the proxy does not offer
 * permessage-deflate) — ends the connection instead of passing unseen.
 */
export class WebSocketScrubber extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  private inData = false;
  private fin = true;
  /** Masked, not yet sent: the end of the data seen so far (of this frame, or of the previous fragment when `heldAcross`). */
  private held: Buffer = Buffer.alloc(0);
  private heldAcross = false;

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
    this.release();
    done(null, this.pending.length ? this.pending : undefined);
  }

  /** Handles what `pending` allows; false when more bytes are needed. */
  private step(): boolean {
    if (this.remaining > 0) {
      if (this.pending.length === 0) return false;
      const take = Math.min(this.remaining, this.pending.length);
      const payload = this.pending.subarray(0, take);
      this.pending = this.pending.subarray(take);
      this.remaining -= take;
      if (this.inData) this.scan(payload);
      else this.push(this.masked(payload));
      if (this.remaining === 0) this.endFrame();
      return true;
    }
    const header = headerAt(this.pending);
    if (!header) return false;
    if (header.masked || header.rsv !== 0) throw new Error('the origin sent a WebSocket frame the proxy cannot check (masked or compressed)');
    const data = header.opcode < 0x8;
    if (this.heldAcross && data && header.opcode === CONTINUATION) {
      // A secret may continue in this fragment: look at its first bytes before the held end of the last one goes out.
      const look = Math.min(header.length, this.needles.keep);
      if (this.pending.length < header.size + look) return false;
      const window = Buffer.concat([this.held, this.pending.subarray(header.size, header.size + look)]);
      this.needles.mask(window);
      this.push(window.subarray(0, this.held.length));
      window.copy(this.pending, header.size, this.held.length);
      this.held = Buffer.alloc(0);
    }
    this.release();
    this.push(Buffer.from(this.pending.subarray(0, header.size)));
    this.pending = this.pending.subarray(header.size);
    this.remaining = header.length;
    this.inData = data;
    if (data) this.fin = header.fin;
    if (header.length === 0) this.endFrame();
    return true;
  }

  /** A control frame's payload (a close reason, a ping) masked on its own: at most 125 bytes. */
  private masked(payload: Buffer): Buffer {
    const copy = Buffer.from(payload);
    this.needles.mask(copy);
    return copy;
  }

  /** Masks the held end plus new payload bytes; sends all but what could start a secret. */
  private scan(payload: Buffer): void {
    const window = Buffer.concat([this.held, payload]);
    this.needles.mask(window);
    const cut = Math.max(0, window.length - this.needles.keep);
    if (cut > 0) this.push(window.subarray(0, cut));
    this.held = window.subarray(cut);
  }

  private endFrame(): void {
    if (this.inData && !this.fin) this.heldAcross = true;
    else this.release();
  }

  /** Sends the held bytes (they must go out before the next frame header). */
  private release(): void {
    if (this.held.length) this.push(this.held);
    this.held = Buffer.alloc(0);
    this.heldAcross = false;
  }
}
