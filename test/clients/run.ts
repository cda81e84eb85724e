// `npm run test:clients`: real, pinned MCP clients call access_fetch through the built
// server against the emulator, and each case checks what reached the (scripted) model.
// Not part of `npm test`: the clients take about 1 GB in the cache on first use.
//   npm run test:clients [-- claude-code opencode gemini-cli inspector]   (default: all)
//   CF_ACCESS_MCP_CLIENTS_CACHE   where the pinned clients go (default ~/.cache/cf-access-mcp/clients)
//   CF_ACCESS_MCP_CLIENT_TIMEOUT  seconds for one client run (default 180; OpenCode alone needs 40-120 s on a loaded 2-core machine)
//   CF_ACCESS_MCP_CLIENTS_KEEP=1  keep the per-case workspaces (HOME, config, server store) for debugging
// Writes the table to test/clients/results.md and the failing cases' client output to test/clients/last-run.log.
import { appendFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CASES, type ClientCase, type Target } from './cases.js';
import { claudeCode } from './drivers/claude-code.js';
import type { ClientDriver } from './drivers/driver.js';
import type { ModelView } from './models/view.js';
import { geminiCli } from './drivers/gemini-cli.js';
import { inspector } from './drivers/inspector.js';
import { openCode } from './drivers/opencode.js';
import { startEmulatorProcess } from './emulator.js';
import { cacheRoot } from './install.js';
import { killAllChildren } from './processes.js';
import { printTable, writeMarkdown, type CaseResult } from './report.js';
import { createRunDir, createWorkspace, disposeWorkspace, ROOT } from './workspace.js';

const ALL_CLIENTS: ClientDriver[] = [claudeCode, openCode, geminiCli, inspector];
const RESULTS_MD = join(ROOT, 'test', 'clients', 'results.md');
const LOG_FILE = join(ROOT, 'test', 'clients', 'last-run.log');
/** CF_ACCESS_MCP_CLIENT_TIMEOUT: seconds for one client run (one case). */
const STEP_TIMEOUT_MS = Number(process.env.CF_ACCESS_MCP_CLIENT_TIMEOUT || 180) * 1000;
const KEEP = process.env.CF_ACCESS_MCP_CLIENTS_KEEP === '1';

const started = Date.now();
const log = (line: string): void => {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  appendFileSync(LOG_FILE, `${line}\n`);
};

/** `npm run test:clients -- claude-code inspector` runs only those clients. */
function selectedClients(argv: string[]): ClientDriver[] {
  if (argv.length === 0) return ALL_CLIENTS;
  const unknown = argv.filter((id) => !ALL_CLIENTS.some((c) => c.id === id));
  if (unknown.length) throw new Error(`Unknown client ${unknown.join(', ')}; choose from ${ALL_CLIENTS.map((c) => c.id).join(', ')}.`);
  return ALL_CLIENTS.filter((c) => argv.includes(c.id));
}

/** Installs every client; a client whose install fails is reported, the others still run. */
async function installAll(clients: ClientDriver[]): Promise<Map<ClientDriver, string>> {
  const failures = new Map<ClientDriver, string>();
  log(`client cache: ${cacheRoot()}`);
  await Promise.all(
    clients.map((c) =>
      c.install((line) => log(`${c.id}: ${line}`)).catch((error: unknown) => {
        failures.set(c, `install failed: ${(error as Error).message.split('\n')[0]}`);
      }),
    ),
  );
  return failures;
}

/** The model's side of a failed case, shortened for the log. */
function describeView(view: ModelView | undefined): string {
  if (!view) return 'model received: nothing';
  const texts = view.texts.map((t, i) => `--- text ${i + 1}\n${t.length > 1500 ? `${t.slice(0, 1500)}…` : t}`);
  const images = view.images.map((img, i) => `--- image ${i + 1}: ${img.mimeType}, ${img.data.length} base64 chars`);
  return ['model received:', ...texts, ...images].join('\n');
}

async function runCase(client: ClientDriver, testCase: ClientCase, target: Target, runDir: string): Promise<CaseResult> {
  const t0 = Date.now();
  const ws = createWorkspace(runDir, `${client.id}-${testCase.id}`, testCase.browser, new URL(target.teamUrl).host);
  try {
    const outcome = await client.callAccessFetch(ws, testCase.args(target), STEP_TIMEOUT_MS);
    const verdict = outcome.view ? testCase.check(outcome.view, target) : { pass: false, note: outcome.note ?? 'no result reached the model' };
    if (!verdict.pass) appendFileSync(LOG_FILE, `\n=== ${client.id} / ${testCase.id}: ${verdict.note}\n${describeView(outcome.view)}\n${outcome.diagnostics}\n`);
    return { client, testCase, ...verdict, seconds: (Date.now() - t0) / 1000 };
  } catch (error) {
    return { client, testCase, pass: false, note: `harness error: ${(error as Error).message}`, seconds: (Date.now() - t0) / 1000 };
  } finally {
    disposeWorkspace(ws, KEEP);
  }
}

async function main(): Promise<number> {
  writeFileSync(LOG_FILE, '');
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first (npm run test:clients does).');
  const clients = selectedClients(process.argv.slice(2));
  const installFailures = await installAll(clients);
  const results: CaseResult[] = [];
  const runDir = createRunDir();
  const emulator = await startEmulatorProcess();
  log(`emulator: app ${emulator.appUrl}, team domain ${emulator.teamUrl}`);
  try {
    for (const client of clients) {
      for (const testCase of CASES) {
        const failure = installFailures.get(client);
        const result = failure ? { client, testCase, pass: false, note: failure, seconds: 0 } : await runCase(client, testCase, emulator, runDir);
        results.push(result);
        log(`${client.id} / ${testCase.id}: ${result.pass ? 'PASS' : 'FAIL'} (${result.seconds.toFixed(1)} s) ${result.note}`);
      }
    }
  } finally {
    await emulator.stop();
    if (KEEP) log(`kept workspaces in ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }
  printTable(clients, CASES, results);
  writeMarkdown(RESULTS_MD, ROOT, clients, CASES, results);
  const failed = results.filter((r) => !r.pass).length;
  process.stdout.write(`\n${failed ? `${failed} of ${results.length} FAILED` : `all ${results.length} passed`}; table written to ${RESULTS_MD}${failed ? `, client output of the failures in ${LOG_FILE}` : ''}\n`);
  return failed ? 1 : 0;
}

main()
  .then((code) => {
    killAllChildren();
    process.exit(code);
  })
  .catch((error: unknown) => {
    process.stderr.write(`test:clients: ${(error as Error).message}\n`);
    killAllChildren();
    process.exit(2);
  });
