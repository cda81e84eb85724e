/**
 * The implied ends htmlparser2 leaves out. Its table closes an open `<li>` or
 * `<p>` only when that element is the innermost one, so `<li><p>a<li><p>b…`
 * nests one level deeper with every item (and a long sloppy list is refused as
 * too deep). The HTML parsing spec ("in body" insertion mode) says instead:
 *
 * - an `<li>` start tag closes the nearest open `<li>`, looking up past any
 *   element that is not "special" (and past `<address>`, `<div>`, `<p>`),
 *   stopping at other special elements such as a nested `<ul>`;
 * - `<dd>`/`<dt>` likewise close the nearest open `<dd>` or `<dt>`;
 * - each of them then closes a `<p>` that is open "in button scope".
 */
import type { HtmlElement } from './html-tree.js';

/** The spec's "special" category (HTML, MathML and SVG names as htmlparser2 lower-cases them). */
const SPECIAL = new Set(
  (
    'address applet area article aside base basefont bgsound blockquote body br button caption center col colgroup dd details dir div dl dt embed ' +
    'fieldset figcaption figure footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input keygen li link listing ' +
    'main marquee menu meta nav noembed noframes noscript object ol p param plaintext pre script search section select source style summary table ' +
    'tbody td template textarea tfoot th thead title tr track ul wbr xmp mi mo mn ms mtext annotation-xml foreignobject desc'
  ).split(' '),
);
/** Special elements the `<li>`/`<dd>`/`<dt>` search looks past. */
const LOOKED_PAST = new Set(['address', 'div', 'p']);
/** What bounds "button scope": an element past one of these is not in scope. */
const BUTTON_SCOPE = new Set(['applet', 'caption', 'html', 'table', 'td', 'th', 'marquee', 'object', 'template', 'button', 'mi', 'mo', 'mn', 'ms', 'mtext', 'annotation-xml', 'foreignobject', 'desc', 'title']);

/** A Map, not an object: a tag may be named like an object property (`<constructor>`). */
const LIST_ITEMS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['li', new Set(['li'])],
  ['dd', new Set(['dd', 'dt'])],
  ['dt', new Set(['dd', 'dt'])],
]);

/**
 * The outermost open element a start tag `name` closes (it and everything open
 * inside it), or undefined. `current` is the innermost open element; `.parent`
 * walks outwards to the root.
 */
export function impliedEndFor(name: string, current: HtmlElement): HtmlElement | undefined {
  const closes = LIST_ITEMS.get(name);
  if (!closes) return undefined;
  let outermost: HtmlElement | undefined;
  for (let node: HtmlElement | undefined = current; node?.parent; node = node.parent) {
    if (closes.has(node.name)) {
      outermost = node;
      break;
    }
    if (SPECIAL.has(node.name) && !LOOKED_PAST.has(node.name)) break;
  }
  // A <p> in button scope outside what is already closed.
  for (let node: HtmlElement | undefined = outermost?.parent ?? current; node?.parent; node = node.parent) {
    if (node.name === 'p') return node;
    if (BUTTON_SCOPE.has(node.name)) break;
  }
  return outermost;
}
