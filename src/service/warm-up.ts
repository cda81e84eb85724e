/**
 * The idle warm-up after `initialize`: everything the first access_fetch
 * would otherwise pay for once — the store parsed, undici's HTTP parser
 * compiled (one request to a throwaway listener on 127.0.0.1, through its own
 * agent so no proxy setting applies), and a small page converted a few times
 * through the real path (a small page with a marked main is converted on the
 * main thread, see convert.ts), which loads the converter and gets its hot
 * code compiled — so the first fetch costs about what a warm one does. The
 * worker (and Readability's DOM library) is not started here: it costs
 * memory for as long as the server lives, and only larger pages and pages
 * without a marked main need it. Never fails: a step that cannot run is skipped.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { conversionsRequested } from '../http/convert-pool.js';
import { convertBody } from '../http/convert.js';
import type { AccessService } from './access-service.js';

async function warmHttpParser(): Promise<void> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const agent = new Agent();
  try {
    const response = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { dispatcher: agent });
    await response.body.dump();
  } finally {
    await agent.close();
    server.close();
  }
}

// Shaped like an API page (headings of code, entities, a relative link, tables and lists holding code):
// a page without entities left the parser's entity decoding cold, 10 ms or more on the first real page.
const SECTION = `<section id="s1"><h2>Section</h2><h3><code>name.call(options[, callback])</code></h3>
<p>A paragraph with <a href="../x.html">a link</a>, <code>code</code>, <strong>strong</strong> and <em>emphasis</em> to convert: it returns &lt;T&gt; &amp; more · done.</p>
<pre><code class="language-js">const x = await call({ timeout: 10 });</code></pre><pre>$ plain &gt; text</pre>
<table><thead><tr><th>Parameter</th><th>Type</th></tr></thead><tbody><tr><td><code>timeout</code></td><td>number</td></tr><tr><td>retries</td><td>2</td></tr></tbody></table>
<ul><li>Returns: <code>Promise&lt;Result&gt;</code></li><li>two<ol><li>nested</li></ol></li></ul><blockquote><p>Quoted.</p></blockquote><dl><dt>term</dt><dd>definition</dd></dl><img src="i.png" alt="x"></section>`;
const PAGE = Buffer.from(`<!doctype html><html><head><title>Warm-up</title></head><body><nav><a href="/">Home</a></nav><main><article><h1>Warm-up</h1>
${SECTION.repeat(12)}</article></main><footer>Footer</footer></body></html>`);

/** A few rounds, each only while no caller has asked for a conversion: a real page never waits behind more than one warm-up page. */
async function warmConverter(): Promise<void> {
  for (const format of ['markdown', 'text', 'markdown'] as const) {
    if (conversionsRequested() > 0) return;
    await convertBody(PAGE, 'text/html', format, { bodyComplete: true, maxImageBytes: 0, url: new URL('http://localhost/'), warmUp: true });
  }
}

export async function warmUp(svc: AccessService): Promise<void> {
  try {
    svc.store.read();
  } catch {
    /* reported when a tool reads it */
  }
  await warmHttpParser().catch(() => {});
  await warmConverter().catch(() => {});
  // Last, and only here at idle (never with the service or before initialize): the store's
  // writer. Left to the first write, the first Markdown fetch measured about 60 ms instead
  // of about 38 ms (bench "first fetch", runs interleaved), for reasons not yet understood.
  await svc.store.loadWriter().catch(() => {});
}
