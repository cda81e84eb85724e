import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed) >>> 0);
  return Buffer.concat([length, typed, crc]);
}

/** An 8x8 RGB PNG with a simple gradient, built byte by byte. */
function buildPng(): Buffer {
  const size = 8;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  // bytes 10-12: compression, filter, interlace = 0
  const rows: number[] = [];
  for (let y = 0; y < size; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < size; x++) rows.push(x * 32, y * 32, 200);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.from(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

export const PIXEL_PNG = buildPng();

export const BLOB_BYTES = 100 * 1024;

/** Deterministic pseudo-random bytes: SHA-256 in counter mode. */
function buildBlob(): Buffer {
  const out = Buffer.alloc(BLOB_BYTES);
  for (let offset = 0, counter = 0; offset < BLOB_BYTES; counter++) {
    const block = createHash('sha256').update(`cf-access-emulator-blob:${counter}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

let blob: Buffer | undefined;
export function blobBytes(): Buffer {
  blob ??= buildBlob();
  return blob;
}

const BIG_BLOCK_BYTES = 64 * 1024;
let bigBlock: Buffer | undefined;

/** 64 KB of text lines that /big repeats; chunks are always taken from its start. */
export function bigTextChunk(_offset: number, size: number): Buffer {
  if (!bigBlock) {
    const lines: string[] = [];
    let length = 0;
    for (let n = 1; length < BIG_BLOCK_BYTES; n++) {
      const line = `line ${String(n).padStart(6, '0')}: the emulated origin keeps streaming text\n`;
      lines.push(line);
      length += line.length;
    }
    bigBlock = Buffer.from(lines.join('')).subarray(0, BIG_BLOCK_BYTES);
  }
  return bigBlock.subarray(0, size);
}
