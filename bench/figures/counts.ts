import { createServer } from 'node:net';
import type { LogEntry } from '../../src/emulator/index.js';
import type { EmulatorProcess } from '../lib/emulator-process.js';
import { row, type FigureResult } from '../lib/report.js';
import { expectOk, spawnServer, tempDir } from '../lib/servers.js';
import { median } from '../lib/stats.js';

/** A loopback port that is free right now: a fixed callback port keeps the redirect URI (and so the registration) stable across processes. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}


const endpoints = (entries: LogEntry[]) => entries.map((e) => e.endpoint).join(', ');

/** The requests the server caused: the bench's own admin calls (clearing and reading the log) left out. */
async function serverRequests(emulator: EmulatorProcess): Promise<LogEntry[]> {
  return (await emulator.log()).filter((e) => e.endpoint !== 'admin');
}

/**
 * Requests to the emulator (all origins, the browser's included, the content request too)
 * per warm fetch, per cold fetch that logs in, and per re-login after a logout (a new
 * process on the same store, and the same process).
 */
export async function countsFigure(emulator: EmulatorProcess, reps = 3): Promise<FigureResult> {
  const url = `${emulator.appUrl}/page-10k`;
  const cold: number[] = [];
  const warm: number[] = [];
  const reloginNew: number[] = [];
  const reloginSame: number[] = [];
  const sequences: Record<string, string> = {};
  for (let rep = 0; rep < reps; rep++) {
    const home = tempDir();
    const env = { CF_ACCESS_MCP_CALLBACK_PORT: String(await freePort()) };
    const first = await spawnServer({ home, env });
    try {
      await emulator.clearLog();
      expectOk(await first.call('access_fetch', { url }), 'cold fetch');
      const coldEntries = await serverRequests(emulator);
      cold.push(coldEntries.length);
      sequences.cold = endpoints(coldEntries);

      await emulator.clearLog();
      expectOk(await first.call('access_fetch', { url }), 'warm fetch');
      const warmEntries = await serverRequests(emulator);
      warm.push(warmEntries.length);
      sequences.warm = endpoints(warmEntries);

      expectOk(await first.call('access_logout', { url }), 'logout');
      await emulator.clearLog();
      expectOk(await first.call('access_fetch', { url }), 'in-process re-login');
      const same = await serverRequests(emulator);
      reloginSame.push(same.length);
      sequences.reloginSameProcess = endpoints(same);
      expectOk(await first.call('access_logout', { url }), 'logout');
    } finally {
      await first.close();
    }
    const second = await spawnServer({ home, env });
    try {
      await emulator.clearLog();
      expectOk(await second.call('access_fetch', { url }), 're-login in a new process');
      const again = await serverRequests(emulator);
      reloginNew.push(again.length);
      sequences.reloginNewProcess = endpoints(again);
    } finally {
      await second.close();
    }
  }
  return {
    name: 'counts',
    rows: [
      row('emulator requests per warm fetch', `${median(warm)} (${sequences.warm})`, '1', median(warm) <= 1),
      row('… per cold fetch with login (all origins, the browser’s authorize and the content included)', `${median(cold)} (${sequences.cold})`, '7', median(cold) <= 7),
      row('… per re-login in a new process (stored registration and discovery)', `${median(reloginNew)} (${sequences.reloginNewProcess})`, '4', median(reloginNew) <= 4),
      row('… per re-login in the same process', `${median(reloginSame)} (${sequences.reloginSameProcess})`, '4', median(reloginSame) <= 4),
    ],
    data: { reps, cold, warm, reloginNewProcess: reloginNew, reloginSameProcess: reloginSame, sequences },
  };
}
