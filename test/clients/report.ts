import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { ClientCase } from './cases.js';
import type { ClientDriver } from './drivers/driver.js';

export interface CaseResult {
  client: ClientDriver;
  testCase: ClientCase;
  pass: boolean;
  note: string;
  seconds: number;
}

function serverRevision(root: string): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const cell = (r: CaseResult | undefined): string => (r ? `${r.pass ? 'PASS' : 'FAIL'}: ${r.note} (${r.seconds.toFixed(1)} s)` : 'not run');

function rows(clients: ClientDriver[], cases: ClientCase[], results: CaseResult[]): string[][] {
  return clients.map((c) => [c.label, ...cases.map((k) => cell(results.find((r) => r.client === c && r.testCase === k)))]);
}

/** The console table: one block per client, one line per case. */
export function printTable(clients: ClientDriver[], cases: ClientCase[], results: CaseResult[]): void {
  const width = Math.max(...cases.map((k) => k.title.length));
  for (const [label, ...cells] of rows(clients, cases, results)) {
    process.stdout.write(`\n${label}\n`);
    cells.forEach((text, i) => process.stdout.write(`  ${cases[i]!.title.padEnd(width)}  ${text}\n`));
  }
}

/** The same table as Markdown, for the README. */
export function writeMarkdown(path: string, root: string, clients: ClientDriver[], cases: ClientCase[], results: CaseResult[]): void {
  const escape = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    '# Real MCP clients: what the model receives from access_fetch',
    '',
    `Run by \`npm run test:clients\` on ${new Date().toISOString().slice(0, 10)}, server at \`${serverRevision(root)}\`, Node ${process.version}, ${process.platform}-${process.arch}.`,
    'Each cell: the check on what the client handed its (scripted) model after one `access_fetch` call.',
    '',
    `| client | ${cases.map((k) => k.title).join(' | ')} |`,
    `|---|${cases.map(() => '---').join('|')}|`,
    ...rows(clients, cases, results).map((r) => `| ${r.map(escape).join(' | ')} |`),
    '',
  ];
  writeFileSync(path, lines.join('\n'));
}
