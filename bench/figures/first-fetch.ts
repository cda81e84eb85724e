import { setTimeout as sleep } from 'node:timers/promises';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { spawnServer, timeCall } from '../lib/servers.js';
import { median, ratio, round } from '../lib/stats.js';

/**
 * The first Markdown fetch of a freshly started server (after the client's
 * initialize and a short idle pause, as when an agent starts up and then thinks)
 * against that same process's warm fetches.
 */
export async function firstFetchFigure(ctx: BenchContext, reps = 5, idleMs = 2000): Promise<FigureResult> {
  const url = PAGES.article(ctx.emulator);
  const first: number[] = [];
  const warm: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const server = await spawnServer({ home: ctx.home });
    try {
      await sleep(idleMs);
      first.push(await timeCall(server, 'access_fetch', { url }));
      for (let i = 0; i < 15; i++) {
        const t = await timeCall(server, 'access_fetch', { url });
        if (i >= 5) warm.push(t);
      }
    } finally {
      await server.close();
    }
  }
  const r = ratio(median(first), median(warm));
  return {
    name: 'first-fetch',
    rows: [
      row(
        `first Markdown fetch after start-up (${idleMs / 1000} s idle after initialize) vs warm, same process (median of ${reps})`,
        `${round(median(first), 1)} ms vs ${round(median(warm), 1)} ms = ${r}×`,
        '≤ 2×',
        r <= 2,
      ),
    ],
    data: { url, reps, idleMs, firstMs: first, warmMedian: median(warm) },
  };
}
