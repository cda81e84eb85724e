import { performance } from 'node:perf_hooks';
import type { Emulator } from '../../src/emulator/index.js';
import { rawFetcher, timeCurl, timeMcpFetch } from '../lib/fetchers.js';
import { row, type FigureResult } from '../lib/report.js';
import { BARE_ENTRY, spawnServer, type Spawned } from '../lib/servers.js';
import { median, p95, ratio, round } from '../lib/stats.js';

const ms = (v: number) => `${round(v, 2)} ms`;

/**
 * Warm fetch of the 10 KB page: access_fetch through the MCP hop (default Markdown, and
 * format "raw" for the same bytes) against undici on a keep-alive Agent and against a
 * curl process per request. Samples are interleaved so noise hits every method alike.
 */
export async function warmFigure(emulator: Emulator, server: Spawned, token: string, rounds = 8, perRound = 40): Promise<FigureResult> {
  const url = `${emulator.appUrl}/page-10k`;
  const raw = rawFetcher(token);
  // The floor of any MCP tool call: a no-op tool on the bare SDK server, same transport.
  const bare = await spawnServer({ entry: BARE_ENTRY });
  const noop = async (): Promise<number> => {
    const start = performance.now();
    await bare.call('noop_fetch', { url });
    return performance.now() - start;
  };
  const notes: { curl?: string } = {};
  const samples = { mcp: [] as number[], mcpRaw: [] as number[], raw: [] as number[], curl: [] as number[], noop: [] as number[] };
  try {
    for (let i = 0; i < 10; i++) {
      await noop();
      await timeMcpFetch(server, url);
      await timeMcpFetch(server, url, 'raw');
      await raw.time(url);
    }
    // curl is optional: without it the comparison row says so.
    let curl: string | undefined;
    await timeCurl(url, token).catch((error: Error) => (curl = error.message));
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++) {
        samples.mcp.push(await timeMcpFetch(server, url));
        samples.mcpRaw.push(await timeMcpFetch(server, url, 'raw'));
        samples.raw.push(await raw.time(url));
        samples.noop.push(await noop());
        if (i % 4 === 0 && !curl) samples.curl.push(await timeCurl(url, token));
      }
    }
    if (curl) notes.curl = curl;
  } finally {
    await raw.close();
    await bare.close();
  }
  const m = { mcp: median(samples.mcp), mcpRaw: median(samples.mcpRaw), raw: median(samples.raw), curl: median(samples.curl), noop: median(samples.noop) };
  const q = { mcp: p95(samples.mcp), mcpRaw: p95(samples.mcpRaw), raw: p95(samples.raw), curl: p95(samples.curl), noop: p95(samples.noop) };
  const n = samples.mcp.length;
  return {
    name: 'warm',
    rows: [
      row(`warm fetch 10 KB, undici keep-alive baseline (n=${samples.raw.length})`, `median ${ms(m.raw)}, p95 ${ms(q.raw)}`),
      row(
        `warm access_fetch 10 KB → Markdown, MCP hop (n=${n})`,
        `median ${ms(m.mcp)} (${ratio(m.mcp, m.raw)}×), p95 ${ms(q.mcp)} (${ratio(q.mcp, q.raw)}×)`,
        '≤ 1.25× raw',
        ratio(m.mcp, m.raw) <= 1.25 && ratio(q.mcp, q.raw) <= 1.25,
      ),
      row(
        `warm access_fetch 10 KB, format raw, MCP hop (n=${samples.mcpRaw.length})`,
        `median ${ms(m.mcpRaw)} (${ratio(m.mcpRaw, m.raw)}×), p95 ${ms(q.mcpRaw)} (${ratio(q.mcpRaw, q.raw)}×)`,
        '≤ 1.25× raw',
        ratio(m.mcpRaw, m.raw) <= 1.25 && ratio(q.mcpRaw, q.raw) <= 1.25,
      ),
      row(
        `MCP hop floor: no-op tool on the bare SDK server (n=${samples.noop.length})`,
        `median ${ms(m.noop)}, p95 ${ms(q.noop)}; raw + floor = ${ms(m.raw + m.noop)} (${ratio(m.raw + m.noop, m.raw)}× raw)`,
      ),
      row(
        `curl spawned per request with the header (n=${samples.curl.length})`,
        notes.curl ? `n/a (${notes.curl})` : `median ${ms(m.curl)}, p95 ${ms(q.curl)}; access_fetch (Markdown) is ${ratio(m.curl, m.mcp)}× faster`,
      ),
    ],
    data: { url, medians: m, p95: q, notes, samples },
  };
}
