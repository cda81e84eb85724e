/**
 * Turndown rules for documentation pages, added after the GFM plugin (later
 * rules win): preformatted text as fenced code with its language, API
 * signatures as code, definition lists as readable lists, and every table as a
 * GFM table. The DOM here is linkedom's; nothing is imported at load time.
 */
type Turndown = import('turndown');
type DomNode = HTMLElement;

const SIGNATURE_CLASSES = ['sig', 'code-header', 'member-signature'];
/** Permalink anchors next to headings and signatures (Sphinx ¶, rustdoc §, Node #). */
const PERMALINK_CLASSES = ['headerlink', 'anchor', 'mark'];
/** Classes that name no language: Sphinx's configured default, plain text. */
const NO_LANGUAGE = new Set(['default', 'none', 'text', 'plain', 'plaintext', 'nohighlight']);
/** Language names a <pre> may carry as a bare class (rustdoc writes `class="rust"`). */
const BARE_LANGUAGES = new Set([
  'rust', 'python', 'js', 'javascript', 'ts', 'typescript', 'java', 'c', 'cpp', 'go', 'sh', 'bash', 'shell', 'console', 'json', 'html', 'css', 'sql', 'yaml', 'toml', 'xml',
]);

const classesOf = (node: DomNode | null): string[] => (node?.nodeType === 1 ? (node.getAttribute('class') ?? '').split(/\s+/).filter(Boolean) : []);
const hasClass = (node: DomNode, names: readonly string[]) => classesOf(node).some((name) => names.includes(name));
const elementChildren = (node: DomNode) => Array.from(node.children) as DomNode[];

function languageFromClasses(classes: string[]): string | undefined {
  for (const name of classes) {
    const match = /^(?:language|lang|highlight(?:-source|-text)?)-([\w+#.-]+)$/.exec(name);
    if (match) return NO_LANGUAGE.has(match[1]!.toLowerCase()) ? '' : match[1];
  }
  return classes.find((name) => BARE_LANGUAGES.has(name));
}

/** The language of a code block: from the <code>, the <pre>, or the wrappers around it (Sphinx's `highlight-python3`). */
export function languageOf(pre: DomNode, code?: DomNode): string {
  const candidates = [code, pre, pre.parentElement, pre.parentElement?.parentElement];
  for (const node of candidates) {
    const language = languageFromClasses(classesOf(node ?? null));
    if (language !== undefined) return language;
  }
  return '';
}

function longestRun(text: string, char: string): number {
  let longest = 0;
  let run = 0;
  for (const c of text) {
    run = c === char ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

function fenced(code: string, language: string): string {
  const fence = '`'.repeat(Math.max(3, longestRun(code, '`') + 1));
  return `\n\n${fence}${language}\n${code.replace(/\n$/, '')}\n${fence}\n\n`;
}

/** Inline code that may itself hold backticks. */
export function codeSpan(text: string): string {
  if (!text) return '';
  const ticks = '`'.repeat(longestRun(text, '`') + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${text}${pad}${ticks}`;
}

const insideTableCell = (node: DomNode) => {
  for (let parent = node.parentNode; parent; parent = parent.parentNode) if (parent.nodeName === 'TD' || parent.nodeName === 'TH') return true;
  return false;
};

/** Text of a signature without its permalink anchors, on one line. */
function signatureText(node: DomNode): string {
  const parts: string[] = [];
  const walk = (current: DomNode) => {
    for (const child of Array.from(current.childNodes)) {
      if (child.nodeType === 3) parts.push(child.nodeValue ?? '');
      else if (child.nodeType === 1 && !(child.nodeName === 'A' && hasClass(child as DomNode, PERMALINK_CLASSES)) && !hasClass(child as DomNode, ['rightside'])) walk(child as DomNode);
    }
  };
  walk(node);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

const isSignature = (node: DomNode) => hasClass(node, SIGNATURE_CLASSES);

function addCodeRules(service: Turndown): void {
  service.addRule('preformatted', {
    filter: 'pre',
    replacement: (_content, node) => {
      const pre = node as DomNode;
      const codes = elementChildren(pre).filter((child) => child.nodeName === 'CODE');
      // Node's docs put the ESM and CommonJS variants side by side in one <pre> (and nothing else): one block each.
      const onlyCodes = codes.length > 1 && Array.from(pre.childNodes).every((child) => child.nodeName === 'CODE' || !(child.textContent ?? '').trim());
      const blocks = onlyCodes ? codes.map((code) => ({ text: code.textContent ?? '', language: languageOf(pre, code) })) : [{ text: pre.textContent ?? '', language: languageOf(pre, codes[0]) }];
      if (insideTableCell(pre)) return blocks.flatMap((block) => block.text.replace(/\n$/, '').split('\n').map(codeSpan)).join('\n');
      return blocks.map((block) => fenced(block.text, block.language)).join('');
    },
  });
  // Javadoc and Sphinx link names inside <code>: `[name](url)` inside backticks shows neither; the link goes outside.
  service.addRule('linkedInlineCode', {
    filter: (node) => node.nodeName === 'CODE' && node.parentNode?.nodeName !== 'PRE' && node.querySelector('a[href]') !== null,
    replacement: (_content, node) => {
      const text = (node.textContent ?? '').replace(/\s+/g, ' ').trim();
      const links = Array.from(node.querySelectorAll('a[href]'));
      const href = links.length === 1 && links[0]!.textContent?.replace(/\s+/g, ' ').trim() === text ? links[0]!.getAttribute('href') : null;
      return href && !/\s/.test(href) ? `[${codeSpan(text)}](${href.replace(/[()]/g, (c) => `\\${c}`)})` : codeSpan(text);
    },
  });
  // A script link (rustdoc's "collapse all docs" toggle) leads nowhere an agent can follow: its text only.
  service.addRule('scriptLink', { filter: (node) => node.nodeName === 'A' && /^\s*javascript:/i.test(node.getAttribute('href') ?? ''), replacement: (content) => content });
  service.addRule('permalink', {
    filter: (node) => node.nodeName === 'A' && hasClass(node, PERMALINK_CLASSES) && (node.getAttribute('href') ?? '').startsWith('#'),
    replacement: () => '',
  });
  service.addRule('signature', {
    filter: (node) => node.nodeName !== 'DT' && isSignature(node),
    replacement: (_content, node) => {
      const code = codeSpan(signatureText(node));
      const level = /^H([1-6])$/.exec(node.nodeName)?.[1];
      return level ? `\n\n${'#'.repeat(Number(level))} ${code}\n\n` : `\n\n${code}\n\n`;
    },
  });
}

const indent = (text: string, by: string) => text.split('\n').map((line) => (line ? by + line : line)).join('\n');

/** A definition list as a list: each term an item (a signature as code, else bold), its definitions indented under it. */
function addDefinitionListRules(service: Turndown): void {
  service.addRule('definitionList', { filter: 'dl', replacement: (content) => `\n\n${content}\n\n` });
  service.addRule('definitionTerm', {
    filter: 'dt',
    replacement: (content, node) => {
      const term = isSignature(node) ? codeSpan(signatureText(node)) : content.replace(/\s+/g, ' ').trim();
      if (!term) return '';
      return `\n\n- ${isSignature(node) || /^\*\*.*\*\*$/.test(term) ? term : `**${term}**`}\n\n`;
    },
  });
  service.addRule('definitionDescription', {
    filter: 'dd',
    replacement: (content) => {
      const text = content.replace(/^\n+|\n+$/g, '');
      return text.trim() ? `\n\n${indent(text, '  ')}\n\n` : '';
    },
  });
}

type TableNode = DomNode & { rows?: ArrayLike<DomNode> };
/** Spanned columns are filled up to this width, and with at most this many cells per table (a hostile colspan="1000" on every cell). */
const MAX_COLUMNS = 256;
const MAX_FILLER_CELLS = 20_000;
const TABLE_SECTIONS = new Set(['THEAD', 'TBODY', 'TFOOT']);

/** The table's own rows (not those of a table nested in a cell), in order. */
function ownRows(table: DomNode): DomNode[] {
  const rows: DomNode[] = [];
  for (const child of elementChildren(table)) {
    if (child.nodeName === 'TR') rows.push(child);
    else if (TABLE_SECTIONS.has(child.nodeName)) rows.push(...elementChildren(child).filter((row) => row.nodeName === 'TR'));
  }
  return rows;
}

/**
 * Readies a table for the GFM rules, which read `table.rows` many times per row
 * (a DOM may compute it afresh on each read: a 100 x 50 table took 18 s) and
 * expect one cell per column: the rows are fixed once, a cell spanning columns
 * is followed by empty cells, and a first row of header cells in a <tbody> is
 * moved to a <thead> so it becomes the header.
 */
export function prepareTable(table: DomNode): void {
  if (Object.prototype.hasOwnProperty.call(table, 'rows')) return;
  const rows = Array.from((table as TableNode).rows ?? ownRows(table));
  let fillers = MAX_FILLER_CELLS;
  for (const row of rows) {
    const cells = elementChildren(row);
    let width = cells.length;
    for (const cell of cells) {
      const span = Number.parseInt(cell.getAttribute('colspan') ?? '1', 10) || 1;
      if (span <= 1 || !cell.ownerDocument) continue;
      cell.removeAttribute('colspan');
      const added = Math.max(0, Math.min(span - 1, MAX_COLUMNS - width, fillers));
      for (let i = 0; i < added; i++) row.insertBefore(cell.ownerDocument.createElement(cell.nodeName.toLowerCase()), cell.nextSibling);
      width += added;
      fillers -= added;
    }
  }
  const first = rows[0];
  const hasHead = elementChildren(table).some((child) => child.nodeName === 'THEAD' && elementChildren(child).length > 0);
  if (first && !hasHead && first.parentNode?.nodeName !== 'THEAD' && table.ownerDocument) {
    const cells = elementChildren(first);
    if (cells.length > 0 && cells.every((cell) => cell.nodeName === 'TH')) {
      const head = table.ownerDocument.createElement('thead');
      for (const child of elementChildren(table)) if (child.nodeName === 'THEAD') table.removeChild(child);
      const firstSection = elementChildren(table).find((child) => child.nodeName !== 'CAPTION' && child.nodeName !== 'COLGROUP' && child.nodeName !== 'COL') ?? null;
      table.insertBefore(head, firstSection);
      head.appendChild(first);
    }
  }
  try {
    Object.defineProperty(table, 'rows', { value: rows, configurable: true });
  } catch {
    // a DOM that refuses: the GFM rules read its own `rows`
  }
}

const containsTable = (node: DomNode): boolean => elementChildren(node).some((child) => child.nodeName === 'TABLE' || containsTable(child));

/** Every table as GFM (the plugin keeps tables holding lists or code as HTML); layout tables and one-cell tables as their content. */
function addTableRules(service: Turndown): void {
  service.addRule('gfmTable', {
    filter: 'table',
    replacement: (content, node) => {
      const rows = ((node as TableNode).rows ?? []) as ArrayLike<DomNode>;
      const skipped = rows.length === 0 || (rows.length === 1 && rows[0]!.childNodes.length <= 1) || containsTable(node);
      if (skipped) return content;
      const lines = content.replace(/\n+/g, '\n').trim();
      let columns = 0;
      for (let i = 0; i < rows.length; i++) columns = Math.max(columns, elementChildren(rows[i]!).length);
      const hasDivider = /^\|[ :]*-{3}/m.test(lines.split('\n')[1] ?? '');
      const emptyHeader = hasDivider ? '' : `|${'     |'.repeat(columns)}\n|${' --- |'.repeat(columns)}\n`;
      const caption = elementChildren(node).find((child) => child.nodeName === 'CAPTION')?.textContent?.replace(/\s+/g, ' ').trim();
      return `\n\n${caption ? `${caption}\n\n` : ''}${emptyHeader}${lines}\n\n`;
    },
  });
  // Checked before every other rule and never matching: it only readies a <table> for the rules above.
  service.addRule('prepareTable', { filter: (node) => (node.nodeName === 'TABLE' && prepareTable(node), false), replacement: () => '' });
}

export function addDocumentationRules(service: Turndown): void {
  addCodeRules(service);
  addDefinitionListRules(service);
  addTableRules(service);
}
