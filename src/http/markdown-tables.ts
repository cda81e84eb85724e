/**
 * Every data table as a GFM table, whatever its cells hold (lists and code
 * are joined with <br>), its columns kept aligned when a cell spans several
 * columns or rows;
 * a table of one cell, or one holding another table (page layout), as its
 * content. The header is the first row when it sits in <thead> or holds only
 * <th> cells; otherwise an empty one (GFM needs a header).
 */
import { elementChildren, isText, type HtmlElement } from './html-tree.js';
import { inlineOf, renderChildren, type RenderContext } from './markdown.js';
import { escapeInline, MarkdownWriter } from './markdown-writer.js';
import { isLineNumberTable, renderLineNumberTable } from './markdown-docs.js';

/** Spanned columns are filled up to this width, and with at most this many cells per table (a hostile colspan="100000" on every cell). */
const MAX_COLUMNS = 256;
const MAX_FILLER_CELLS = 20_000;
const SECTIONS = new Set(['thead', 'tbody', 'tfoot']);

/** The table's own rows (not those of a table nested in a cell), in order. */
function ownRows(table: HtmlElement): HtmlElement[] {
  const rows: HtmlElement[] = [];
  for (const child of elementChildren(table)) {
    if (child.name === 'tr') rows.push(child);
    else if (SECTIONS.has(child.name)) for (const row of elementChildren(child)) if (row.name === 'tr') rows.push(row);
  }
  return rows;
}

const cellsOf = (row: HtmlElement) => elementChildren(row).filter((cell) => cell.name === 'td' || cell.name === 'th');

function containsTable(table: HtmlElement): boolean {
  const stack = elementChildren(table);
  while (stack.length) {
    const element = stack.pop()!;
    if (element.name === 'table') return true;
    for (const child of element.children) if (!isText(child)) stack.push(child);
  }
  return false;
}

/** A cell's content on one line: its blocks and line breaks as <br>, pipes escaped. */
function cellText(cell: HtmlElement, context: RenderContext): string {
  if (cell.children.length === 0) return '';
  const only = cell.children.length === 1 ? cell.children[0]! : undefined;
  if (only && isText(only)) return escapeInline(only.text.replace(/[ \t\n\r\f]+/g, ' ').trim()).replace(/\|/g, '\\|');
  const writer = new MarkdownWriter({ escapeLineStart: false });
  renderChildren(cell, writer, context);
  writer.endRun();
  return writer.blocks
    .map((block) => block.text.replace(/\n+/g, '<br>'))
    .join('<br>')
    .replace(/\|/g, '\\|');
}

const tableRow = (cells: string[]) => `| ${cells.join(' | ')} |`;

export function renderTable(table: HtmlElement, writer: MarkdownWriter, context: RenderContext): void {
  if (isLineNumberTable(table)) return renderLineNumberTable(table, writer, context);
  const rows = ownRows(table);
  if (rows.length === 0 || (rows.length === 1 && cellsOf(rows[0]!).length <= 1) || context.inTable || containsTable(table)) {
    writer.endRun();
    renderChildren(table, writer, context);
    writer.endRun();
    return;
  }
  const cellContext: RenderContext = { ...context, inTable: true };
  let fillers = MAX_FILLER_CELLS;
  let columns = 0;
  /** Per column, how many more rows a cell above still covers (rowspan): those rows get an empty cell there. */
  const covered: number[] = [];
  const lines = rows.map((row) => {
    const cells = cellsOf(row);
    let width = cells.length;
    const texts: string[] = [];
    const fillCovered = () => {
      while (covered[texts.length]! > 0 && texts.length < MAX_COLUMNS && fillers > 0) {
        covered[texts.length]!--;
        texts.push('');
        width++;
        fillers--;
      }
    };
    for (const cell of cells) {
      fillCovered();
      const column = texts.length;
      texts.push(cellText(cell, cellContext));
      const span = Number.parseInt(cell.attrs.colspan ?? '1', 10) || 1;
      const added = Math.max(0, Math.min(span - 1, MAX_COLUMNS - width, fillers));
      for (let i = 0; i < added; i++) texts.push('');
      width += added;
      fillers -= added;
      const rowSpan = Math.min(Number.parseInt(cell.attrs.rowspan ?? '1', 10) || 1, rows.length);
      for (let c = column; c < texts.length; c++) covered[c] = Math.max(covered[c] ?? 0, rowSpan - 1);
    }
    fillCovered();
    // Covered columns past this row's last cell: the padding below fills them; the cover still ends.
    for (let c = texts.length; c < covered.length; c++) if (covered[c]! > 0) covered[c]!--;
    columns = Math.max(columns, texts.length);
    return texts;
  });
  for (const texts of lines) while (texts.length < columns) texts.push('');
  const first = rows[0]!;
  const headed = first.parent?.name === 'thead' || cellsOf(first).every((cell) => cell.name === 'th');
  const header = headed ? lines.shift()! : new Array<string>(columns).fill('');
  const caption = elementChildren(table).find((child) => child.name === 'caption');
  const captionText = caption ? inlineOf(caption, context) : '';
  if (captionText) writer.block(captionText);
  writer.block([tableRow(header), tableRow(new Array<string>(columns).fill('---')), ...lines.map(tableRow)].join('\n'));
}
