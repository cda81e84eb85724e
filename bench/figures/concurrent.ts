import type { EmulatorProcess } from '../lib/emulator-process.js';
import { row, type FigureResult } from '../lib/report.js';
import { spawnServer } from '../lib/servers.js';
import { median } from '../lib/stats.js';

/** 50 access_fetch calls at once on a fresh store: how many browsers, registrations and code exchanges. */
export async function concurrentFigure(emulator: EmulatorProcess, reps = 3, concurrency = 50): Promise<FigureResult> {
  const browsers: number[] = [];
  const registrations: number[] = [];
  const exchanges: number[] = [];
  const failures: number[] = [];
  const totals: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const server = await spawnServer();
    try {
      await emulator.clearLog();
      const results = await Promise.all(
        Array.from({ length: concurrency }, (_, i) => server.call('access_fetch', { url: `${emulator.appUrl}/page-10k?i=${i}` })),
      );
      failures.push(results.filter((r) => r.isError).length);
      browsers.push(server.browserOpens());
      const log = (await emulator.log()).filter((e) => e.endpoint !== 'admin');
      totals.push(log.length);
      registrations.push(log.filter((e) => e.endpoint === 'registration').length);
      exchanges.push(log.filter((e) => e.endpoint === 'token').length);
    } finally {
      await server.close();
    }
  }
  const b = median(browsers);
  const r = median(registrations);
  const x = median(exchanges);
  const f = median(failures);
  return {
    name: 'concurrent',
    rows: [
      row(
        `${concurrency} concurrent cold fetches: browsers, registrations, exchanges (median of ${reps})`,
        `${b}, ${r}, ${x}${f ? `; ${f} calls failed` : '; all succeeded'}`,
        '1, 1, 1',
        b === 1 && r === 1 && x === 1 && f === 0,
      ),
      row(`… total requests at the emulator (${concurrency} content requests + ${concurrency} challenged + one login)`, `${median(totals)}`, '≤ 110', median(totals) <= 110),
    ],
    data: { reps, concurrency, totals, browsers, registrations, exchanges, failures },
  };
}
