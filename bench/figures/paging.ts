import { performance } from 'node:perf_hooks';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { expectOk, spawnServer, timeCall, type Spawned } from '../lib/servers.js';
import { median, ratio, round } from '../lib/stats.js';

/** Reads the page from start_index 0 to its end at the default max_length; returns [ms, pages]. */
async function readToEnd(server: Spawned, url: string): Promise<[number, number]> {
  const start = performance.now();
  let next: number | undefined = 0;
  let pages = 0;
  while (next !== undefined) {
    const result = expectOk(await server.call('access_fetch', { url, start_index: next }), 'page');
    pages++;
    next = (result._meta?.['cf-access-mcp/result'] as { next_start_index?: number } | undefined)?.next_start_index;
  }
  return [performance.now() - start, pages];
}

/** Reading a long doc page by page vs one call with a large max_length, alternating. */
export async function pagingFigure(ctx: BenchContext, reps = 10): Promise<FigureResult> {
  const url = PAGES.long(ctx.emulator);
  const server = await spawnServer({ home: ctx.home });
  const paged: number[] = [];
  const whole: number[] = [];
  let pages = 0;
  try {
    for (let i = 0; i < 3; i++) {
      await readToEnd(server, url);
      await timeCall(server, 'access_fetch', { url, max_length: 1_000_000 });
    }
    for (let i = 0; i < reps; i++) {
      const [t, n] = await readToEnd(server, url);
      paged.push(t);
      pages = n;
      whole.push(await timeCall(server, 'access_fetch', { url, max_length: 1_000_000 }));
    }
  } finally {
    await server.close();
  }
  const r = ratio(median(paged), median(whole));
  return {
    name: 'paging',
    rows: [
      row(`reading a long doc to its end (${pages} pages at the default max_length) vs one call with a large max_length (median of ${reps})`, `${round(median(paged), 1)} ms vs ${round(median(whole), 1)} ms = ${r}×`, '≤ 1.5×', r <= 1.5),
    ],
    data: { url, reps, pages, pagedMs: paged, wholeMs: whole },
  };
}
