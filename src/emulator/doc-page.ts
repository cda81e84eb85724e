/**
 * GET /doc?kb=N: an API reference page of about N KB (default 14, at most
 * 2048), shaped like real documentation — site chrome around one <main>,
 * sections with prose, signatures in code blocks, parameter tables and lists —
 * for benchmarks of conversion, paging and large pages. Deterministic.
 */
import { htmlPage } from './http-util.js';

const NOUNS = ['request', 'socket', 'header', 'stream', 'agent', 'buffer', 'timeout', 'session', 'token', 'response'];
const VERBS = ['returns', 'emits', 'closes', 'reads', 'writes', 'accepts', 'rejects', 'sets', 'resolves', 'reports'];

function sentence(n: number, k: number): string {
  const a = NOUNS[(n * 3 + k) % NOUNS.length];
  const v = VERBS[(n + k * 7) % VERBS.length];
  const b = NOUNS[(n * 5 + k * 3 + 1) % NOUNS.length];
  return `The ${a} ${v} the ${b} when method ${n}.${k} is called with <code>options.${b}</code> set.`;
}

function section(n: number): string {
  const name = `${NOUNS[n % NOUNS.length]}.${VERBS[(n * 3) % VERBS.length]}${n}`;
  const prose = (from: number) => `<p>${[0, 1, 2, 3].map((k) => sentence(n, from + k)).join(' ')}</p>`;
  return `<section id="m${n}">
<h3><code>${name}(options[, callback])</code></h3>
<pre><code class="language-js">const result = await ${name}({ timeout: ${n * 10}, retries: ${n % 4} });
if (result.ok) console.log(result.value);</code></pre>
${prose(0)}
<table><thead><tr><th>Parameter</th><th>Type</th><th>Default</th><th>Description</th></tr></thead><tbody>
<tr><td><code>timeout</code></td><td>number</td><td>${n * 10}</td><td>Milliseconds before the ${NOUNS[n % NOUNS.length]} gives up.</td></tr>
<tr><td><code>retries</code></td><td>integer</td><td>${n % 4}</td><td>How often a failed ${NOUNS[(n + 1) % NOUNS.length]} is sent again.</td></tr>
</tbody></table>
${prose(4)}
<ul><li>Returns: <code>Promise&lt;Result&gt;</code></li><li>Since: v${1 + (n % 20)}.${n % 10}.0</li></ul>
</section>`;
}

const CHROME = `<header><nav><a href="/">Home</a> · <a href="/doc">API</a> · <a href="/tables">Figures</a></nav></header>
<aside><h2>Contents</h2><ul><li><a href="#m1">First method</a></li><li><a href="#m2">Second method</a></li></ul></aside>`;

export function docPage(kb: number): string {
  const target = Math.max(1, Math.min(2048, kb)) * 1024;
  const parts: string[] = ['<h1>Example API reference</h1>', '<p>Every method of the example module, with its options.</p>'];
  let size = 2000;
  for (let n = 1; size < target; n++) {
    if (n % 25 === 1) parts.push(`<h2>Chapter ${Math.ceil(n / 25)}</h2>`);
    const next = section(n);
    parts.push(next);
    size += Buffer.byteLength(next) + 1;
  }
  return htmlPage('Example API reference', `${CHROME}\n<main>\n<article>\n${parts.join('\n')}\n</article>\n</main>\n<footer>Generated documentation.</footer>`);
}
