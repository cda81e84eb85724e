import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { expectOk, type Spawned } from './servers.js';

/** One warm access_fetch through the MCP hop; returns milliseconds. */
export async function timeMcpFetch(server: Spawned, url: string, format?: 'raw' | 'markdown'): Promise<number> {
  const start = performance.now();
  const result = await server.call('access_fetch', { url, ...(format ? { format } : {}) });
  const elapsed = performance.now() - start;
  expectOk(result, `access_fetch ${url}`);
  return elapsed;
}

/** The raw baseline: undici `request` on a keep-alive Agent with the Bearer token, body read in full. */
export function rawFetcher(token: string): { time: (url: string) => Promise<number>; close: () => Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const headers = { authorization: `Bearer ${token}`, accept: '*/*' };
  return {
    time: async (url) => {
      const start = performance.now();
      const response = await request(url, { dispatcher: agent, headers });
      await response.body.arrayBuffer();
      const elapsed = performance.now() - start;
      if (response.statusCode !== 200) throw new Error(`raw request answered HTTP ${response.statusCode}`);
      return elapsed;
    },
    close: () => agent.close(),
  };
}

/** The seed's way: spawn curl per request; the header goes in on stdin so the token is never in argv. */
export function timeCurl(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn('curl', ['-sS', '--fail', '-H', '@-', url], { stdio: ['pipe', 'pipe', 'ignore'] });
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.on('error', reject);
    child.stdin.on('error', () => {}); // curl missing or gone: 'error'/'close' above report it
    child.on('close', (code) => {
      const elapsed = performance.now() - start;
      if (code !== 0 || bytes === 0) reject(new Error(`curl exited with ${code}`));
      else resolve(elapsed);
    });
    child.stdin.end(`Authorization: Bearer ${token}\n`);
  });
}
