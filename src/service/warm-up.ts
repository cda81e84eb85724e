/**
 * The idle warm-up after `initialize`: everything the first access_fetch
 * would otherwise pay for once. The store is parsed; then a small page is
 * fetched from a throwaway listener on 127.0.0.1 through the same flow a
 * call takes (prepare, credential lookup, undici's request and parser,
 * detection, reading, converting, paging, building the result), through its
 * own connection pool so no proxy setting applies, and the MCP layer renders
 * that result as it would a call's (see access-fetch.ts); then the page is
 * converted a few more times so the converter's hot code gets compiled. A
 * first call otherwise spends more time compiling all that code than running
 * it. The worker (and Readability's DOM library) is not started here: it
 * costs memory for as long as the server lives, and only larger pages and
 * pages without a marked main need it. Never fails: a step that cannot run
 * is skipped; it writes nothing and reaches nothing outside this process.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createDispatcher } from '../http/client.js';
import { conversionsRequested } from '../http/convert-pool.js';
import { convertBody } from '../http/convert.js';
import type { AccessService } from './access-service.js';
import { fetchThroughAccess } from './fetch-flow.js';
import type { FetchResult } from './results.js';

// Shaped like an API page (headings of code, entities, a relative link, tables and lists holding code):
// a page without entities left the parser's entity decoding cold, 10 ms or more on the first real page.
const SECTION = `<section id="s1"><h2>Section</h2><h3><code>name.call(options[, callback])</code></h3>
<p>A paragraph with <a href="../x.html">a link</a>, <code>code</code>, <strong>strong</strong> and <em>emphasis</em> to convert: it returns &lt;T&gt; &amp; more · done.</p>
<pre><code class="language-js">const x = await call({ timeout: 10 });</code></pre><pre>$ plain &gt; text</pre>
<table><thead><tr><th>Parameter</th><th>Type</th></tr></thead><tbody><tr><td><code>timeout</code></td><td>number</td></tr><tr><td>retries</td><td>2</td></tr></tbody></table>
<ul><li>Returns: <code>Promise&lt;Result&gt;</code></li><li>two<ol><li>nested</li></ol></li></ul><blockquote><p>Quoted.</p></blockquote><dl><dt>term</dt><dd>definition</dd></dl><img src="i.png" alt="x"></section>`;
const PAGE = Buffer.from(`<!doctype html><html><head><title>Warm-up</title></head><body><nav><a href="/">Home</a></nav><main><article><h1>Warm-up</h1>
${SECTION.repeat(12)}</article></main><footer>Footer</footer></body></html>`);

export interface WarmUpHooks {
  /** Given the warm-up page's result: the MCP layer renders it as it would a call's. */
  fetched?: (result: FetchResult) => Promise<void> | void;
}

/**
 * undici's HTTP parser is WebAssembly, compiled on the first connection. Its
 * optimising tier needs about 40 MB of compiler memory for a moment, which the
 * allocator may keep (idle RSS 10 MB higher in some runs): the baseline tier
 * alone compiles it with almost none, and parses a response no slower that
 * anyone could tell. Only for that compile: the flag is restored right after.
 */
async function withBaselineWasmTier<T>(run: () => Promise<T>): Promise<T> {
  setFlagsFromString('--liftoff-only');
  try {
    return await run();
  } finally {
    setFlagsFromString('--no-liftoff-only');
  }
}

/** The same flow as a call's, on a page served by this process to itself (never with a credential of the user's). */
async function warmFetchPath(svc: AccessService): Promise<FetchResult | undefined> {
  if (conversionsRequested() > 0) return undefined;
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', etag: '"warm-up"', 'cache-control': 'no-store' }).end(PAGE));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/warm-up.html`);
  // A plain pool with the service's options; the environment's proxy settings are left out, so the request stays on loopback.
  const agent = createDispatcher({ connectMs: svc.config.connectTimeoutMs, headersMs: svc.config.responseTimeoutMs, bodyMs: svc.config.responseTimeoutMs }, {});
  try {
    // Should the user have a credential for this very address, nothing is sent.
    if (svc.methods.configuredFor(url) || svc.store.getSession(svc.store.appKeyFor(url))) return undefined;
    return await withBaselineWasmTier(() => fetchThroughAccess(svc, { url: url.href }, {}, { dispatcher: agent, warmUp: true }));
  } finally {
    await agent.close();
    server.close();
  }
}

/** A few rounds, each only while no caller has asked for a conversion: a real page never waits behind more than one warm-up page. */
async function warmConverter(): Promise<void> {
  for (const format of ['text', 'markdown'] as const) {
    if (conversionsRequested() > 0) return;
    await convertBody(PAGE, 'text/html', format, { bodyComplete: true, maxImageBytes: 0, url: new URL('http://localhost/'), warmUp: true });
  }
}

export async function warmUp(svc: AccessService, hooks: WarmUpHooks = {}): Promise<void> {
  try {
    svc.store.read();
  } catch {
    /* reported when a tool reads it */
  }
  try {
    const fetched = await warmFetchPath(svc);
    if (fetched) await hooks.fetched?.(fetched);
  } catch {
    /* the first call pays for what was not warmed */
  }
  await warmConverter().catch(() => {});
  // Never while a call waits: a full collection holds the event loop for a few milliseconds.
  if (svc.callsInFlight === 0) collectAtIdle();
}

/**
 * One full collection, at idle, once the warm-up is done. Start-up (loading
 * modules, the warm-up's page) leaves the heap full of objects, most of them
 * long-lived; the first collections after it walked and copied them all, 10 to
 * 20 ms inside the second or third call.
 */
function collectAtIdle(): void {
  let gc: (() => void) | undefined;
  // gc() is only exposed to contexts made while the flag is set: a throwaway one, the flag restored at once.
  setFlagsFromString('--expose-gc');
  try {
    gc = runInNewContext('gc') as (() => void) | undefined;
  } catch {
    /* the first calls pay for it */
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  gc?.();
}
