"""
The text of a page's main content, read with Python's own html.parser: an
extraction that shares no code with the converter under test (no linkedom, no
Readability, no htmlparser2, no Markdown writer of ours), used as the reference for the corpus retention test.

Usage: python3 doc_text.py FILE SELECTOR, where SELECTOR is `tag`, `tag#id`,
`tag.class` or `tag[attr=value]` and names the page's main-content element (the
first match). Prints JSON: {"blocks": [text of each block outside <pre>],
"pre": [text of each <pre>], "tables": [[[cell text, …] for each row] for each
table not inside another], "signatures": [text of each API signature: rustdoc
`code-header`, Sphinx `sig`, Javadoc `member-signature`, without permalinks]}.
"""
import json
import re
import sys
from html.parser import HTMLParser

BLOCKS = {
    'p', 'div', 'section', 'article', 'main', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'table', 'tr', 'td', 'th',
    'thead', 'tbody', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'pre', 'blockquote', 'figure', 'figcaption', 'br',
    'hr', 'caption', 'details', 'summary', 'header', 'footer', 'nav', 'aside', 'span-block',
}
# Controls (buttons) are not content: the converter drops them too.
SKIPPED = {'script', 'style', 'noscript', 'template', 'head', 'title', 'button'}
SIGNATURE_CLASSES = {'code-header', 'sig', 'member-signature'}
PERMALINK_CLASSES = {'headerlink', 'anchor'}
VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}


def matcher(selector):
    m = re.fullmatch(r'([a-z0-9]+)(?:#([\w-]+)|\.([\w-]+)|\[([\w-]+)=([\w-]+)\])?', selector)
    if not m:
        raise SystemExit(f'bad selector {selector}')
    tag, ident, cls, attr, value = m.groups()

    def matches(name, attrs):
        if name != tag:
            return False
        a = dict(attrs)
        if ident:
            return a.get('id') == ident
        if cls:
            return cls in (a.get('class') or '').split()
        if attr:
            return a.get(attr) == value
        return True
    return matches


class MainText(HTMLParser):
    def __init__(self, selector):
        super().__init__(convert_charrefs=True)
        self.matches = matcher(selector)
        self.stack = []          # open element names inside the main element
        self.inside = False
        self.done = False
        self.skip = 0
        self.blocks = []
        self.pre = []
        self.current = []
        self.pre_depth = 0
        self.pre_text = []
        self.tables = []
        self.table_depth = 0
        self.cell = None
        self.signatures = []
        self.signature = None    # (depth in stack, parts) of the signature being read
        self.permalink = 0

    def flush(self):
        text = re.sub(r'\s+', ' ', ''.join(self.current)).strip()
        if text:
            self.blocks.append(text)
        self.current = []

    def handle_starttag(self, name, attrs):
        if self.done:
            return
        if not self.inside:
            if self.matches(name, attrs):
                self.inside = True
                self.stack = [name]
            return
        if name not in VOID:
            self.stack.append(name)
        if name in SKIPPED:
            self.skip += 1
        if name in BLOCKS:
            self.flush()
        if name == 'pre':
            self.pre_depth += 1
        classes = set((dict(attrs).get('class') or '').split())
        if name == 'table':
            self.table_depth += 1
            if self.table_depth == 1:
                self.tables.append([])
        elif self.table_depth == 1 and name == 'tr':
            self.tables[-1].append([])
        elif self.table_depth == 1 and name in ('td', 'th'):
            self.cell = []
        if self.signature is None and classes & SIGNATURE_CLASSES:
            self.signature = (len(self.stack), [])
        if name == 'a' and classes & PERMALINK_CLASSES:
            self.permalink += 1

    def handle_startendtag(self, name, attrs):
        if self.inside and name in BLOCKS:
            self.flush()

    def handle_endtag(self, name):
        if not self.inside or self.done or name not in self.stack:
            return
        # close everything opened since `name` (browsers' tolerance of unclosed <p>, <li>, …)
        while self.stack:
            top = self.stack.pop()
            if top in SKIPPED:
                self.skip -= 1
            if top in BLOCKS:
                self.flush()
            if top == 'table':
                self.table_depth -= 1
            if top in ('td', 'th') and self.table_depth == 1 and self.cell is not None:
                self.tables[-1][-1].append(re.sub(r'\s+', ' ', ''.join(self.cell)).strip())
                self.cell = None
            if top == 'a' and self.permalink:
                self.permalink -= 1
            if self.signature and len(self.stack) < self.signature[0]:
                self.signatures.append(re.sub(r'\s+', ' ', ''.join(self.signature[1])).strip())
                self.signature = None
            if top == 'pre':
                self.pre_depth -= 1
                if self.pre_depth == 0:
                    self.pre.append(''.join(self.pre_text).strip('\n'))
                    self.pre_text = []
            if top == name:
                break
        if not self.stack:
            self.flush()
            self.done = True

    def handle_data(self, data):
        if self.inside and not self.done and self.skip == 0:
            (self.pre_text if self.pre_depth else self.current).append(data)
            if self.cell is not None:
                self.cell.append(data)
            if self.signature and not self.permalink:
                self.signature[1].append(data)


def main():
    path, selector = sys.argv[1], sys.argv[2]
    parser = MainText(selector)
    with open(path, encoding='utf-8') as f:
        parser.feed(f.read())
    parser.close()
    parser.flush()
    if not parser.inside:
        raise SystemExit(f'{selector} not found in {path}')
    json.dump({'blocks': parser.blocks, 'pre': parser.pre, 'tables': parser.tables, 'signatures': parser.signatures}, sys.stdout)


main()
