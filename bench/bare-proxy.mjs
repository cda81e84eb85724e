#!/usr/bin/env node
// The proxy baseline: the least a Node reverse proxy does for one request — Node's HTTP
// server, an undici keep-alive Pool to the origin, the bearer token added — and nothing
// else (no Host check, no scrubbing, no header rewriting, no login). What one more HTTP
// hop in Node costs on this machine; prints its base URL. Usage: bare-proxy.mjs <origin> <store.json>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const [origin, storeFile] = process.argv.slice(2);
const token = JSON.parse(readFileSync(storeFile, 'utf8')).sessions[origin].access_token;
const pool = new Pool(origin, { keepAliveTimeout: 30_000 });
const HOP = ['connection', 'keep-alive', 'transfer-encoding'];

const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  delete headers.host;
  delete headers.connection;
  pool.request({ path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req }).then(
    ({ statusCode, headers: answer, body }) => {
      for (const name of HOP) delete answer[name];
      res.writeHead(statusCode, answer);
      pipeline(body, res, () => {});
    },
    () => res.destroy(),
  );
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}`));
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
