import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { spawnServer, timeCall, type Spawned } from '../lib/servers.js';
import { median, round } from '../lib/stats.js';

/** Asks the server (CF_ACCESS_MCP_REPORT_STALLS=1) for its longest event-loop stall since the last ask. */
async function stallSinceLastAsk(server: Spawned): Promise<number> {
  const before = server.stderr().length;
  process.kill(server.pid, 'SIGUSR2');
  await sleep(100);
  const reported = [...server.stderr().slice(before).matchAll(/stall-max-ms=([\d.]+)/g)].map((m) => Number(m[1]));
  if (!reported.length) throw new Error('the server did not report its event-loop stall');
  return Math.max(...reported);
}

/**
 * A 250 KB doc page → Markdown: how long the fetch takes (vs format raw, the
 * conversion's share), the longest stall of the server's event loop while it
 * runs (monitorEventLoopDelay inside the server), and how fast access_status
 * calls sent meanwhile are answered.
 */
export async function largePageFigure(ctx: BenchContext, reps = 6): Promise<FigureResult> {
  const url = PAGES.large(ctx.emulator);
  const server = await spawnServer({ home: ctx.home, stderr: true, env: { CF_ACCESS_MCP_REPORT_STALLS: '1' } });
  const md: number[] = [];
  const raw: number[] = [];
  const stalls: number[] = [];
  const statusMs: number[] = [];
  const idleStalls: number[] = [];
  try {
    await timeCall(server, 'access_fetch', { url });
    await timeCall(server, 'access_fetch', { url, format: 'raw' });
    for (let rep = 0; rep < reps; rep++) {
      raw.push(await timeCall(server, 'access_fetch', { url, format: 'raw' }));
      await sleep(50);
      await stallSinceLastAsk(server);
      let running = true;
      const fetching = timeCall(server, 'access_fetch', { url }).finally(() => (running = false));
      while (running) {
        const start = performance.now();
        await server.call('access_status', {});
        statusMs.push(performance.now() - start);
        await sleep(5);
      }
      const took = await fetching;
      md.push(took);
      stalls.push(await stallSinceLastAsk(server));
      // The same server, as long, answering access_status only: what the machine itself adds.
      const until = performance.now() + took;
      while (performance.now() < until) {
        await server.call('access_status', {});
        await sleep(5);
      }
      idleStalls.push(await stallSinceLastAsk(server));
    }
  } finally {
    await server.close();
  }
  const worstStall = Math.max(...stalls);
  const worstStatus = Math.max(...statusMs);
  return {
    name: 'large-page',
    rows: [
      row(`250 KB doc page → Markdown (median of ${reps})`, `${round(median(md), 0)} ms (format raw ${round(median(raw), 0)} ms: conversion ≈ ${round(median(md) - median(raw), 0)} ms, in the worker)`),
      row('… longest event-loop stall of the server while it converts (monitorEventLoopDelay, worst of all runs)', `${round(worstStall, 1)} ms (median ${round(median(stalls), 1)} ms)`, '≤ 20 ms', worstStall <= 20),
      row('… the same server as long without a fetch (access_status only): longest stall, what the machine adds', `${round(Math.max(...idleStalls), 1)} ms (median ${round(median(idleStalls), 1)} ms)`),
      row(`… access_status sent meanwhile (n=${statusMs.length}): slowest answer`, `${round(worstStatus, 1)} ms (median ${round(median(statusMs), 1)} ms)`, '≤ 50 ms', worstStatus <= 50),
    ],
    data: { url, reps, mdMs: md, rawMs: raw, stallsMs: stalls, idleStallsMs: idleStalls, statusMs },
  };
}
