/**
 * One line of the benchmark table. `met` is null when the figure has no goal or
 * could not be measured. Other bench modules (e.g. bench/bridges.ts) return
 * these, wrapped in a FigureResult, and run.ts lists them with the rest.
 */
export interface Row {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}

/** What one figure measured: its table rows and the raw numbers for latest.json. */
export interface FigureResult {
  name: string;
  rows: Row[];
  data: Record<string, unknown>;
}

export function row(figure: string, value: string, goal = '', met: boolean | null = null): Row {
  return { figure, value, goal, met };
}

/** A figure that could not be measured: say so, never invent a number. */
export function notAvailable(name: string, reason: string): FigureResult {
  return { name, rows: [row(name, `n/a (${reason})`, '', null)], data: { error: reason } };
}

export function formatTable(rows: Row[]): string {
  const headers = ['figure', 'value', 'goal', 'met'];
  const cells = rows.map((r) => [r.figure, r.value, r.goal, r.met === null ? '' : r.met ? 'yes' : 'NO']);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** The same rows as a Markdown table, for the README (pipes in cells escaped). */
export function markdownTable(rows: Row[]): string {
  const cell = (v: string) => v.replace(/\|/g, '\\|');
  const lines = ['| figure | value | goal | met |', '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${cell(r.figure)} | ${cell(r.value)} | ${cell(r.goal)} | ${r.met === null ? '' : r.met ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}
