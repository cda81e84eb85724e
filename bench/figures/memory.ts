import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { BARE_FETCH_ENTRY, memoryOf, spawnServer, timeCall } from '../lib/servers.js';
import { median, ratio, round } from '../lib/stats.js';

const MB = 1024 * 1024;

/**
 * Resident memory: idle (after start-up and the idle warm-up, which loads the
 * converter) against the bare fetch tool idle; then after 1,000 warm Markdown
 * fetches (with their throughput).
 */
export async function memoryFigure(ctx: BenchContext, fetches = 1000, reps = 3): Promise<FigureResult> {
  const url = PAGES.article(ctx.emulator);
  const idleOurs: number[] = [];
  const idleBare: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const ours = await spawnServer({ home: ctx.home });
    const bare = await spawnServer({ entry: BARE_FETCH_ENTRY, env: { BENCH_BEARER: ctx.token } });
    try {
      await sleep(3000);
      idleOurs.push(memoryOf(ours.pid).rss);
      idleBare.push(memoryOf(bare.pid).rss);
    } finally {
      await ours.close();
      await bare.close();
    }
  }
  const ours = await spawnServer({ home: ctx.home });
  let oursMs = 0;
  let after: number;
  try {
    const start = performance.now();
    for (let i = 0; i < fetches; i++) await timeCall(ours, 'access_fetch', { url });
    oursMs = performance.now() - start;
    await sleep(500);
    after = memoryOf(ours.pid).rss;
  } finally {
    await ours.close();
  }
  const idle = ratio(median(idleOurs), median(idleBare));
  return {
    name: 'memory',
    rows: [
      row(`RSS idle, converter loaded at idle, vs the bare fetch tool idle (median of ${reps})`, `${round(median(idleOurs) / MB, 1)} MB vs ${round(median(idleBare) / MB, 1)} MB = ${idle}×`, '≤ 1.3×', idle <= 1.3),
      row(`RSS after ${fetches} warm Markdown fetches of the article`, `${round(after / MB, 1)} MB (idle ${round(median(idleOurs) / MB, 1)} MB); ${round((fetches / oursMs) * 1000, 0)} fetches/s`),
    ],
    data: { url, reps, idleOursBytes: idleOurs, idleBareBytes: idleBare, afterBytes: after, fetches, oursMs },
  };
}
