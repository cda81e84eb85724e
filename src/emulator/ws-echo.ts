import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One server frame (unmasked, RFC 6455 §5.2); `fin` false for a fragment that more follow. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const first = (fin ? 0x80 : 0) | opcode;
  const head = length < 126 ? Buffer.from([first, length]) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (length >= 126) {
    head[0] = first;
    head[1] = length < 65536 ? 126 : 127;
    if (length < 65536) head.writeUInt16BE(length, 2);
    else head.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([head, payload]);
}

/** Reads complete client frames off `buffer`; returns what is left over. */
function readFrames(buffer: Buffer, onFrame: (opcode: number, payload: Buffer) => void): Buffer {
  let rest = buffer;
  for (;;) {
    if (rest.length < 2) return rest;
    const opcode = rest[0]! & 0x0f;
    const masked = (rest[1]! & 0x80) !== 0;
    let length = rest[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (rest.length < 4) return rest;
      length = rest.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (rest.length < 10) return rest;
      length = Number(rest.readBigUInt64BE(2));
      offset = 10;
    }
    const maskAt = offset;
    if (masked) offset += 4;
    if (rest.length < offset + length) return rest;
    const payload = Buffer.from(rest.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= rest[maskAt + (i % 4)]!;
    rest = rest.subarray(offset + length);
    onFrame(opcode, payload);
  }
}

/**
 * The upgrade request's headers as JSON (the credential Access let through
 * included, as a careless application might echo it), in one frame or in
 * fragments cut every `cut` bytes, each fragment in its own write.
 */
function echoHeaders(socket: Duplex, req: IncomingMessage, cut?: number): void {
  const json = Buffer.from(JSON.stringify({ headers: req.headers }));
  if (!cut) return void socket.write(frame(0x1, json));
  for (let at = 0; at < json.length; at += cut) {
    const last = at + cut >= json.length;
    socket.write(frame(at === 0 ? 0x1 : 0x0, json.subarray(at, at + cut), last));
  }
}

/**
 * GET /ws on a protected app, once authenticated: a WebSocket that echoes
 * every text or binary message (unfragmented frames; enough for tests) and
 * answers ping and close. The text message `headers` is answered with the
 * upgrade request's headers as JSON; `headers <n>` the same in fragments of n bytes.
 */
export function webSocketEcho(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  let pending: Buffer = Buffer.from(head);
  const onData = (chunk: Buffer) => {
    pending = readFrames(Buffer.concat([pending, chunk]), (opcode, payload) => {
      if (opcode === 0x8) socket.end(frame(0x8, payload.subarray(0, 2)));
      else if (opcode === 0x9) socket.write(frame(0xa, payload));
      else if (opcode === 0x1 && /^headers( \d+)?$/.test(payload.toString())) echoHeaders(socket, req, Number(payload.toString().slice(8)) || undefined);
      else if (opcode === 0x1 || opcode === 0x2) socket.write(frame(opcode, payload));
    });
  };
  socket.on('data', onData);
  // The HTTP server's sockets allow half-open: a peer that just goes away (curl at --max-time) would leave this
  // side open and no longer read, and the server's close() would wait for it forever.
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
  if (pending.length) onData(Buffer.alloc(0));
}
