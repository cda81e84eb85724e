import { setTimeout as sleep } from 'node:timers/promises';
import type { EmulatorProcess } from '../lib/emulator-process.js';
import { row, type FigureResult } from '../lib/report.js';
import { expectOk, memoryOf, spawnServer, textOf } from '../lib/servers.js';
import { median, round } from '../lib/stats.js';

const MB = 1024 * 1024;

/**
 * access_fetch of a 200 MB body with default paging: growth of the server process's peak
 * resident set (VmHWM) and the bytes the emulator handed to the socket before the server
 * stopped reading. A fresh process per repetition, warmed by one normal fetch first.
 */
export async function bigFigure(emulator: EmulatorProcess, reps = 1): Promise<FigureResult> {
  const growth: number[] = [];
  const sent: number[] = [];
  const notes: string[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const server = await spawnServer();
    try {
      expectOk(await server.call('access_fetch', { url: `${emulator.appUrl}/page-10k` }), 'warm-up fetch');
      expectOk(await server.call('access_fetch', { url: `${emulator.appUrl}/page-10k` }), 'warm-up fetch');
      const before = memoryOf(server.pid);
      await emulator.clearLog();
      const result = expectOk(await server.call('access_fetch', { url: `${emulator.appUrl}/big` }), 'big fetch');
      const after = memoryOf(server.pid);
      await sleep(200); // let the emulator see the connection close
      const entry = (await emulator.requests({ endpoint: 'resource' })).find((e) => e.path.startsWith('/big'));
      growth.push(after.hwm - before.hwm);
      sent.push(entry?.bytesSent ?? NaN);
      const structured = result.structuredContent as { total_length?: number; truncated?: boolean; saved_to?: string } | undefined;
      notes.push(`returned ${textOf(result).length} chars, total_length ${structured?.total_length}, truncated ${structured?.truncated}${structured?.saved_to ? ', saved to a file' : ''}`);
    } finally {
      await server.close();
    }
  }
  const g = median(growth);
  const s = median(sent);
  return {
    name: 'big',
    rows: [
      row(
        `200 MB body, default paging (median of ${reps})`,
        `peak RSS growth ${round(g / MB, 1)} MB; ${round(s / MB, 1)} MB sent by the origin before the server stopped reading`,
      ),
    ],
    data: { reps, hwmGrowthBytes: growth, bytesSent: sent, notes },
  };
}
