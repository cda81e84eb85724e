import { createServer } from 'node:net';
import type { Emulator, LogEntry } from '../../src/emulator/index.js';
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

/** The emulator requests one step made, without the final content request. */
function loginRequests(entries: LogEntry[]): LogEntry[] {
  const last = entries[entries.length - 1];
  return last && last.endpoint === 'resource' ? entries.slice(0, -1) : entries;
}

const endpoints = (entries: LogEntry[]) => entries.map((e) => e.endpoint).join(', ');

/**
 * Requests to the emulator (all origins, the browser's included) per warm fetch, per cold
 * login, and per re-login with a cached registration (a new process on the same store, and
 * the same process, which also still has discovery cached).
 */
export async function countsFigure(emulator: Emulator, reps = 3): Promise<FigureResult> {
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
      emulator.clearLog();
      expectOk(await first.call('access_fetch', { url }), 'cold fetch');
      const coldEntries = loginRequests([...emulator.log]);
      cold.push(coldEntries.length);
      sequences.cold = endpoints(coldEntries);

      emulator.clearLog();
      expectOk(await first.call('access_fetch', { url }), 'warm fetch');
      warm.push(emulator.log.length);
      sequences.warm = endpoints(emulator.log);

      expectOk(await first.call('access_logout', { url }), 'logout');
      emulator.clearLog();
      expectOk(await first.call('access_fetch', { url }), 'in-process re-login');
      const same = loginRequests([...emulator.log]);
      reloginSame.push(same.length);
      sequences.reloginSameProcess = endpoints(same);
      expectOk(await first.call('access_logout', { url }), 'logout');
    } finally {
      await first.close();
    }
    const second = await spawnServer({ home, env });
    try {
      emulator.clearLog();
      expectOk(await second.call('access_fetch', { url }), 're-login in a new process');
      const again = loginRequests([...emulator.log]);
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
      row('emulator requests per cold login (excl. the content request; incl. the browser’s authorize)', `${median(cold)} (${sequences.cold})`, '6', median(cold) <= 6),
      row('… per re-login with a cached registration, new process', `${median(reloginNew)} (${sequences.reloginNewProcess})`, '5', median(reloginNew) <= 5),
      row('… per re-login in the same process (discovery cached too)', `${median(reloginSame)} (${sequences.reloginSameProcess})`, '', null),
    ],
    data: { reps, cold, warm, reloginNewProcess: reloginNew, reloginSameProcess: reloginSame, sequences },
  };
}
