import { setTimeout as sleep } from 'node:timers/promises';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { spawnServer, timeCall } from '../lib/servers.js';
import { median, ratio, round } from '../lib/stats.js';

/**
 * The first Markdown fetch of a freshly started server (after the client's
 * initialize and a short idle pause, as when an agent starts up and then thinks)
 * against that same process's warm fetches.
 *
 * The goal row compares it with a warm fetch made after the same idle pause:
 * on a virtual machine a request that follows a pause is slower however warm
 * the process is (idle vCPUs are halted and woken at each process hop: client,
 * server, origin), and only what the process pays once is ours to remove. The
 * warm fetches back to back are reported too, with the pause's own cost.
 */
export async function firstFetchFigure(ctx: BenchContext, reps = 5, idleMs = 2000): Promise<FigureResult> {
  const url = PAGES.article(ctx.emulator);
  const first: number[] = [];
  const afterPause: number[] = [];
  const backToBack: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const server = await spawnServer({ home: ctx.home });
    try {
      await sleep(idleMs);
      first.push(await timeCall(server, 'access_fetch', { url }));
      for (let i = 0; i < 15; i++) {
        const t = await timeCall(server, 'access_fetch', { url });
        if (i >= 5) backToBack.push(t);
      }
      // Twice, so that one unlucky pause does not decide the rep.
      for (let i = 0; i < 2; i++) {
        await sleep(idleMs);
        afterPause.push(await timeCall(server, 'access_fetch', { url }));
      }
    } finally {
      await server.close();
    }
  }
  const vsPause = ratio(median(first), median(afterPause));
  const vsBackToBack = ratio(median(first), median(backToBack));
  const ms = (v: number) => `${round(v, 1)} ms`;
  return {
    name: 'first-fetch',
    rows: [
      row(
        `first Markdown fetch after start-up (${idleMs / 1000} s idle after initialize) vs a warm fetch after the same pause, same process (median of ${reps})`,
        `${ms(median(first))} vs ${ms(median(afterPause))} = ${vsPause}×`,
        '≤ 2×',
        vsPause <= 2,
      ),
      row(
        '… vs warm fetches back to back (calls 7–16; what the pause itself costs on this machine)',
        `${ms(median(first))} vs ${ms(median(backToBack))} = ${vsBackToBack}×; the pause alone ${ratio(median(afterPause), median(backToBack))}×`,
      ),
    ],
    data: { url, reps, idleMs, firstMs: first, afterPauseMs: afterPause, backToBackMedian: median(backToBack), warmMedian: median(afterPause) },
  };
}
