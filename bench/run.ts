/**
 * `npm run bench`: the figures the README quotes, each measured side by side
 * with its baseline in the same run (only ratios count on a shared machine),
 * the emulator in its own process. Prints a table and writes
 * bench-results/latest.json; `npm run bench:readme` puts that table in the
 * README. No secret is printed: the baselines read the token from the store
 * file in-process and hand it to the bare server through its environment.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bridgeRows } from './bridges.js';
import { bigFigure } from './figures/big.js';
import { concurrentFigure } from './figures/concurrent.js';
import { countsFigure } from './figures/counts.js';
import { firstFetchFigure } from './figures/first-fetch.js';
import { largePageFigure } from './figures/large-page.js';
import { memoryFigure } from './figures/memory.js';
import { pagingFigure } from './figures/paging.js';
import { perCallFigure } from './figures/per-call.js';
import { startupFigure } from './figures/startup.js';
import type { BenchContext } from './lib/context.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { formatTable, notAvailable, type FigureResult } from './lib/report.js';
import { expectOk, removeTempDirs, ROOT, spawnServer, storedAccessToken, tempDir } from './lib/servers.js';

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

/** A store logged in to the emulator's app, for every figure that measures warm calls. */
async function loggedIn(emulator: BenchContext['emulator']): Promise<BenchContext> {
  const home = tempDir();
  const server = await spawnServer({ home });
  try {
    expectOk(await server.call('access_fetch', { url: `${emulator.appUrl}/` }), 'login for the warm figures');
  } finally {
    await server.close();
  }
  return { emulator, home, token: storedAccessToken(home, new URL(emulator.appUrl).origin) };
}

/** `npm run bench -- --only paging,memory`: the figures whose names contain one of the words; written to partial.json, not latest.json. */
function onlyFigures(): string[] | undefined {
  const at = process.argv.indexOf('--only');
  return at === -1 ? undefined : (process.argv[at + 1] ?? '').split(',').filter(Boolean);
}

async function main(): Promise<void> {
  const only = onlyFigures();
  const started = performance.now();
  const emulator = await startEmulatorProcess();
  // Every server spawned below inherits this: the emulator's team is one the user trusts, so its sign-in page opens.
  process.env.CF_ACCESS_MCP_TEAMS = new URL(emulator.teamUrl).host;
  const figures: FigureResult[] = [];
  try {
    const ctx = await loggedIn(emulator);
    const all: [string, () => Promise<FigureResult>][] = [
      ['warm per-call', () => perCallFigure(ctx)],
      ['first fetch after start-up', () => firstFetchFigure(ctx)],
      ['paging', () => pagingFigure(ctx)],
      ['250 KB page', () => largePageFigure(ctx)],
      ['request counts', () => countsFigure(emulator)],
      ['50 concurrent cold fetches', () => concurrentFigure(emulator)],
      ['start-up', () => startupFigure()],
      ['memory', () => memoryFigure(ctx)],
      ['200 MB body', () => bigFigure(emulator)],
      ['bridges', async () => ({ name: 'bridges', rows: await bridgeRows(emulator), data: {} })],
    ];
    for (const [name, run] of all) if (!only || only.some((word) => name.includes(word))) figures.push(await measure(name, run));
  } finally {
    await emulator.close();
    removeTempDirs();
  }

  const info = machine();
  const seconds = Math.round((performance.now() - started) / 1000);
  const table = formatTable(figures.flatMap((f) => f.rows));
  process.stdout.write(`\ncf-access-mcp benchmark — ${info.cpus} × ${info.model}, Node ${info.node}, ${info.platform}; ${seconds} s\n\n${table}\n`);
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const out = { date: new Date().toISOString(), machine: info, seconds, figures };
  const file = only ? 'partial.json' : 'latest.json';
  writeFileSync(join(dir, file), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`\nWritten to bench-results/${file}${only ? '' : '; "npm run bench:readme" puts this table in README.md'}.\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
