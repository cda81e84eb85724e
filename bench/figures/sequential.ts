import { performance } from 'node:perf_hooks';
import type { Emulator } from '../../src/emulator/index.js';
import { rawFetcher, timeMcpFetch } from '../lib/fetchers.js';
import { row, type FigureResult } from '../lib/report.js';
import type { Spawned } from '../lib/servers.js';
import { median, p95, ratio, round } from '../lib/stats.js';

/** 1,000 sequential warm fetches through MCP and 1,000 raw, alternating in blocks of 100. */
export async function sequentialFigure(emulator: Emulator, server: Spawned, token: string, total = 1000, block = 100): Promise<FigureResult> {
  const url = `${emulator.appUrl}/page-10k`;
  const raw = rawFetcher(token);
  const mcp: number[] = [];
  const direct: number[] = [];
  let mcpWall = 0;
  let rawWall = 0;
  try {
    for (let done = 0; done < total; done += block) {
      let start = performance.now();
      for (let i = 0; i < block; i++) mcp.push(await timeMcpFetch(server, url));
      mcpWall += performance.now() - start;
      start = performance.now();
      for (let i = 0; i < block; i++) direct.push(await raw.time(url));
      rawWall += performance.now() - start;
    }
  } finally {
    await raw.close();
  }
  const mcpRate = (mcp.length / mcpWall) * 1000;
  const rawRate = (direct.length / rawWall) * 1000;
  const p50r = ratio(median(mcp), median(direct));
  const p95r = ratio(p95(mcp), p95(direct));
  return {
    name: 'sequential',
    rows: [
      row(
        `${total} sequential warm access_fetch (10 KB → Markdown)`,
        `${round(mcpRate, 0)} fetches/s vs raw ${round(rawRate, 0)}/s; p50 ${round(median(mcp), 2)} ms (${p50r}×), p95 ${round(p95(mcp), 2)} ms (${p95r}×)`,
        '≤ 1.25× raw',
        p50r <= 1.25 && p95r <= 1.25,
      ),
    ],
    data: { url, total, mcpPerSecond: mcpRate, rawPerSecond: rawRate, mcpP50: median(mcp), mcpP95: p95(mcp), rawP50: median(direct), rawP95: p95(direct), p50Ratio: p50r, p95Ratio: p95r },
  };
}
