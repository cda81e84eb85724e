import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { row, type FigureResult } from '../lib/report.js';
import { BARE_ENTRY, ROOT, SERVER_ENTRY, spawnServer } from '../lib/servers.js';
import { median, p95, ratio, round } from '../lib/stats.js';

/** Spawn → `tools/list` answered, for one server entry point. */
async function timeStartup(entry: string): Promise<number> {
  const start = performance.now();
  const server = await spawnServer({ entry });
  await server.client.listTools();
  const elapsed = performance.now() - start;
  await server.close();
  return elapsed;
}

/**
 * Import time beyond the SDK, in one fresh process: the MCP surface loaded at
 * start-up, then the access service (undici, conf, locks, auth core) that is
 * deferred to the first tool call or a warm-up just after start-up.
 */
const EXTRA_IMPORTS = ['./dist/mcp/stdio.js', './dist/service/access-service.js'];
const LABELS: Record<string, string> = {
  './dist/mcp/stdio.js': 'MCP surface, at start-up',
  './dist/service/access-service.js': 'access service, deferred to first use',
};

function importCosts(): Record<string, number> {
  const script = `
    const costs = {};
    await import('@modelcontextprotocol/sdk/server/mcp.js');
    await import('@modelcontextprotocol/sdk/server/stdio.js');
    for (const name of ${JSON.stringify(EXTRA_IMPORTS)}) {
      const start = performance.now();
      await import(name);
      costs[name] = performance.now() - start;
    }
    process.stdout.write(JSON.stringify(costs));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })) as Record<string, number>;
}

/** Start-up of cf-access-mcp against a bare SDK server with four no-op tools, interleaved. */
export async function startupFigure(runs = 10): Promise<FigureResult> {
  await timeStartup(SERVER_ENTRY); // warm the file cache for both
  await timeStartup(BARE_ENTRY);
  const ours: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    ours.push(await timeStartup(SERVER_ENTRY));
    bare.push(await timeStartup(BARE_ENTRY));
  }
  const r = ratio(median(ours), median(bare));
  const costs = Array.from({ length: 5 }, importCosts);
  const cost = Object.fromEntries(EXTRA_IMPORTS.map((name) => [name, median(costs.map((c) => c[name]!))]));
  return {
    name: 'startup',
    rows: [
      row(
        `start-up: spawn → tools/list (median of ${runs})`,
        `${round(median(ours), 0)} ms vs bare SDK ${round(median(bare), 0)} ms = ${r}×`,
        '≤ 1.3×',
        r <= 1.3,
      ),
      row(
        '… import ms beyond the SDK (median of 5)',
        EXTRA_IMPORTS.map((name) => `${LABELS[name]} ${round(cost[name]!, 0)}`).join('; '),
      ),
    ],
    data: { importCostsMs: cost, runs, oursMs: ours, bareMs: bare, oursMedian: median(ours), bareMedian: median(bare), oursP95: p95(ours), bareP95: p95(bare), ratio: r },
  };
}
