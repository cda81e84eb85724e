/**
 * The idle warm-up after `initialize`: everything the first access_fetch
 * would otherwise pay for once. The store is parsed and the heap collected;
 * the converter parses a tiny page; then a small page is fetched from a
 * throwaway listener on 127.0.0.1, a few rounds, through the same flow a call
 * takes (prepare, credential lookup, undici's request and parser, detection,
 * reading, converting, paging, building the result), through its own
 * connection pool so no proxy setting applies, and the MCP layer renders each
 * result as it would a call's (see access-fetch.ts); then the page is
 * converted once more as text. A first call otherwise spends more time compiling all that code
 * than running it, and one round leaves most of it unoptimised. The worker
 * (and Readability's DOM library) is not started here: it costs memory for as
 * long as the server lives, and only larger pages and pages without a marked
 * main need it. Never fails: a step that cannot run is skipped; each round
 * after the first runs only while nobody waits; it writes nothing and
 * reaches nothing outside this process.
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
// And framed as most pages are (a head of metadata, a header, a table of contents by fragment): attribute
// sets and links the sections lack would otherwise meet code specialised on fewer shapes, and deoptimise it.
const PAGE = Buffer.from(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Warm-up</title>
<link rel="stylesheet" href="/s.css"></head><body class="page"><header><nav><a href="/">Home</a> · <a href="/docs">Docs</a></nav></header>
<aside><h2>Contents</h2><ul><li><a href="#s1">Section</a></li></ul></aside><main><article><h1>Warm-up</h1>
${SECTION.repeat(12)}</article></main><footer><p>Footer</p></footer></body></html>`);

export interface WarmUpHooks {
  /** Given the warm-up page's result: the MCP layer renders it as it would a call's. */
  fetched?: (result: FetchResult) => Promise<void> | void;
  /** A caller the service does not count is waiting: any tool call under way at the MCP layer (access_proxy, a save_to's roots request). */
  busy?: () => boolean;
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

/**
 * Rounds of the whole fetch path: with one, most of it was still unoptimised
 * when the first call came (its conversion took twice a warm one's); more than
 * this gained nothing measurable.
 */
export const FETCH_ROUNDS = 5;

/** Nobody waits: no call under way, counted by the service or by the MCP layer. */
const idle = (svc: AccessService, hooks: WarmUpHooks) => svc.callsInFlight === 0 && hooks.busy?.() !== true;

/** A caller is waiting, or has asked for a conversion: the warm-up stands aside. */
const callerWaiting = (svc: AccessService, hooks: WarmUpHooks) => !idle(svc, hooks) || conversionsRequested() > 0;

/** The same flow as a call's, on a page served by this process to itself (never with a credential of the user's). */
async function warmFetchPath(svc: AccessService, hooks: WarmUpHooks): Promise<void> {
  if (conversionsRequested() > 0) return;
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', etag: '"warm-up"', 'cache-control': 'no-store' }).end(PAGE));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  // With a query, as many real addresses have: reading a URL's parts with and without one runs different code.
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/warm-up.html?page=1`);
  // A plain pool with the service's options; the environment's proxy settings are left out, so the request stays on loopback.
  const agent = createDispatcher({ connectMs: svc.config.connectTimeoutMs, headersMs: svc.config.responseTimeoutMs, bodyMs: svc.config.responseTimeoutMs }, {});
  try {
    // Should the user have a credential for this very address, nothing is sent.
    if (svc.methods.configuredFor(url) || svc.store.getSession(svc.store.appKeyFor(url))) return;
    const fetchPage = () => fetchThroughAccess(svc, { url: url.href }, {}, { dispatcher: agent, warmUp: true });
    for (let round = 0; round < FETCH_ROUNDS && (round === 0 || !callerWaiting(svc, hooks)); round++) {
      // The first round opens the connection, which compiles the response parser.
      await hooks.fetched?.(round === 0 ? await withBaselineWasmTier(fetchPage) : await fetchPage());
    }
  } finally {
    await agent.close();
    server.close();
  }
}

/**
 * V8 compiles a loop that runs long while it is still running, from what the
 * function has seen so far. Were the warm-up page the parser's first, its
 * tokenizer loop would be compiled before its exit had ever run, and that code
 * deoptimised at the end of every later page (seen as a run of deopts in
 * htmlparser2's Tokenizer.parse, and first conversions several times slower).
 * A tiny page first lets every loop finish once.
 */
const TINY_PAGE = Buffer.from('<!doctype html><html><head><title>t</title></head><body><main><h1>t</h1><p>a &amp; <a href="x?y=1">b</a></p><pre><code>c</code></pre><table><tr><td>d</td></tr></table></main></body></html>');

async function warmConverter(svc: AccessService, hooks: WarmUpHooks, page: Buffer, formats: readonly ('markdown' | 'text')[]): Promise<void> {
  for (const format of formats) {
    if (callerWaiting(svc, hooks)) return;
    await convertBody(page, 'text/html', format, { bodyComplete: true, maxImageBytes: 0, url: new URL('http://localhost/'), warmUp: true });
  }
}

export async function warmUp(svc: AccessService, hooks: WarmUpHooks = {}): Promise<void> {
  try {
    svc.store.read();
  } catch {
    /* reported when a tool reads it */
  }
  // Never while a call waits: a collection holds the event loop for a few milliseconds.
  if (idle(svc, hooks)) collectAtIdle('full');
  await warmConverter(svc, hooks, TINY_PAGE, ['markdown', 'text']).catch(() => {});
  try {
    await warmFetchPath(svc, hooks);
  } catch {
    /* the first call pays for what was not warmed */
  }
  await warmConverter(svc, hooks, PAGE, ['text']).catch(() => {});
  if (idle(svc, hooks)) collectAtIdle('young');
}

/**
 * Collections at idle. Start-up (loading modules, reading the store) leaves
 * the heap full of objects, most of them long-lived; the first collections
 * after it walked and copied them all, 10 to 20 ms inside the second or third
 * call, or in the middle of a large page. A full collection before the rounds
 * clears that; two young-generation ones after them move what the rounds left
 * out of the young generation. A full collection after the rounds handed
 * pages back to the system instead, and the first call, taking them again,
 * took hundreds of page faults (10 ms and more on a virtual machine).
 */
function collectAtIdle(kind: 'full' | 'young'): void {
  let gc: ((options?: { type: 'minor' | 'major' }) => void) | undefined;
  // gc() is only exposed to contexts made while the flag is set: a throwaway one, the flag restored at once.
  setFlagsFromString('--expose-gc');
  try {
    gc = runInNewContext('gc') as typeof gc;
  } catch {
    /* the first calls pay for it */
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  try {
    if (kind === 'full') return gc?.();
    gc?.({ type: 'minor' });
    gc?.({ type: 'minor' });
  } catch {
    /* a runtime whose gc() refuses: the calls collect as they would have */
  }
}
