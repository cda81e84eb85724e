/**
 * `npm run bench`: the figures the README quotes, measured side by side with their
 * baselines in the same run. Prints a table and writes bench-results/latest.json.
 * No secret is printed: the raw baseline reads the token from the store file in-process.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEmulator } from '../src/emulator/index.js';
import { bridgeRows } from './bridges.js';
import { bigFigure } from './figures/big.js';
import { concurrentFigure } from './figures/concurrent.js';
import { countsFigure } from './figures/counts.js';
import { sequentialFigure } from './figures/sequential.js';
import { startupFigure } from './figures/startup.js';
import { warmFigure } from './figures/warm.js';
import { formatTable, notAvailable, type FigureResult } from './lib/report.js';
import { expectOk, removeTempDirs, ROOT, spawnServer, storedAccessToken, type Spawned } from './lib/servers.js';

function machine(): Record<string, unknown> {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return { cpus: cpus().length, model, node: process.version, platform: `${process.platform} ${process.arch}` };
}

async function measure(name: string, run: () => Promise<FigureResult>): Promise<FigureResult> {
  const start = performance.now();
  process.stderr.write(`bench: ${name}…`);
  try {
    const result = await run();
    process.stderr.write(` ${Math.round((performance.now() - start) / 1000)} s\n`);
    return result;
  } catch (error) {
    process.stderr.write(` failed: ${(error as Error).message}\n`);
    return notAvailable(name, (error as Error).message.slice(0, 200));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const emulator = await startEmulator({ approval: 'auto' });
  // Every server spawned below inherits this: the emulator's team is one the user trusts, so its sign-in page opens.
  process.env.CF_ACCESS_MCP_TEAMS = new URL(emulator.teamUrl).host;
  const figures: FigureResult[] = [];
  let warm: Spawned | undefined;
  try {
    figures.push(await measure('start-up', () => startupFigure()));
    figures.push(await measure('request counts', () => countsFigure(emulator)));
    figures.push(await measure('50 concurrent cold fetches', () => concurrentFigure(emulator)));

    warm = await spawnServer();
    expectOk(await warm.call('access_fetch', { url: `${emulator.appUrl}/page-10k` }), 'login for the warm figures');
    const token = storedAccessToken(warm.home, new URL(emulator.appUrl).origin);
    figures.push(await measure('warm fetch', () => warmFigure(emulator, warm!, token)));
    figures.push(await measure('1,000 sequential fetches', () => sequentialFigure(emulator, warm!, token)));
    await warm.close();
    warm = undefined;

    figures.push(await measure('200 MB body', () => bigFigure(emulator)));
    figures.push(await measure('bridges', async () => ({ name: 'bridges', rows: await bridgeRows(emulator), data: {} })));
  } finally {
    await warm?.close();
    await emulator.close();
    removeTempDirs();
  }

  const info = machine();
  const seconds = Math.round((performance.now() - started) / 1000);
  const table = formatTable(figures.flatMap((f) => f.rows));
  process.stdout.write(`\ncf-access-mcp benchmark — ${info.cpus} × ${info.model}, Node ${info.node}, ${info.platform}; ${seconds} s\n\n${table}\n`);
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const out = { date: new Date().toISOString(), machine: info, seconds, table, figures };
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`\nWritten to bench-results/latest.json\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
