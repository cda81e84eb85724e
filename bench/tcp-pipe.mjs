#!/usr/bin/env node
// The floor under every proxy: a pure TCP byte pipe. Each connection accepted on 127.0.0.1 is piped
// to a fresh connection to the origin, byte for byte, both ways; no HTTP parsing at all (the bench
// puts the credential and the origin's Host into the client's request itself). What one more local
// hop costs on this machine: two more sockets and a wake-up of this process per direction.
// Prints its base URL. Usage: tcp-pipe.mjs <origin>
// It lets glibc reuse the memory it frees as the proxy does (src/core/malloc-reuse.ts): without that, every
// batch of 64 KB read buffers V8 frees went back to the kernel and was faulted in again, and this floor paid
// ~50,000 page faults per GiB the proxy no longer pays.
import { connect, createServer } from 'node:net';
import { keepFreedMemoryForReuse } from '../dist/core/malloc-reuse.js';

keepFreedMemoryForReuse();

const origin = new URL(process.argv[2]);
const port = Number(origin.port || 80);

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: origin.hostname, port, noDelay: true });
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
