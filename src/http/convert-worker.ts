/**
 * The conversion worker's entry: one job at a time from convert-pool.ts. It
 * first hands back the scrubbed body as served (the fallback if the main
 * thread stops it at the time budget), then the converted text.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { convertText, preloadHtmlConverter, type TextJob } from './text-convert.js';

/**
 * On Linux the nice value belongs to the thread, so this lowers the converter
 * only: on a busy machine the scheduler then runs the main thread (every other
 * call, the login callback) first whenever it has work, instead of letting a
 * long conversion take its core. Elsewhere it would lower the whole process.
 */
const CONVERTER_NICE = 10;
if (process.platform === 'linux') {
  try {
    setPriority(CONVERTER_NICE);
  } catch {
    // Not allowed here (a container's seccomp profile): the converter runs at normal priority.
  }
}

export type WorkerReply =
  | { id: number; kind: 'served'; text: string }
  | { id: number; kind: 'done'; text: string; title?: string; notes: string[] }
  | { id: number; kind: 'failed'; message: string }
  | { id: 0; kind: 'warm' };

// A worker's stdout is the process's stdout, our MCP channel: whatever a library prints is dropped.
// (Piping it to the main thread instead, with `stdout: true`, keeps the process from ever exiting.)
for (const method of ['log', 'info', 'debug', 'warn', 'error', 'trace', 'dir', 'table'] as const) console[method] = () => {};
process.stdout.write = (() => true) as typeof process.stdout.write;

const port = parentPort!;
// Loaded before any HTML job is acknowledged: a page's time budget starts with that acknowledgement (its "served" text), not with the worker's start-up.
const librariesLoaded = preloadHtmlConverter().catch(() => {});
port.on('message', (message: { id: number; job: TextJob } | { warm: true }) => {
  if ('warm' in message) void warm();
  else void handle(message.id, message.job);
});

/** A small page converted once at idle: loads the converter's libraries and gets their hot paths compiled before the first real page. */
const WARM_PAGE = `<!doctype html><html><head><title>Warm-up</title></head><body><nav><a href="/">Home</a></nav><main><article><h1>Warm-up</h1>
${'<p>A paragraph with <a href="/x">a link</a>, <code>code</code> and <em>emphasis</em> to convert.</p>'.repeat(20)}
<pre><code class="language-js">const x = 1;</code></pre><table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>
<ul><li>one</li><li>two</li></ul></article></main><footer>Footer</footer></body></html>`;

async function warm(): Promise<void> {
  const bytes = new TextEncoder().encode(WARM_PAGE);
  for (const format of ['markdown', 'text', 'markdown'] as const) {
    await convertText({ bytes, contentType: 'text/html', format, html: true, bodyComplete: true, url: 'http://localhost/', secrets: [] }).catch(() => {});
  }
  port.postMessage({ id: 0, kind: 'warm' } satisfies WorkerReply);
}

async function handle(id: number, job: TextJob): Promise<void> {
  try {
    if (job.html) await librariesLoaded;
    const result = await convertText(job, (text) => port.postMessage({ id, kind: 'served', text } satisfies WorkerReply));
    port.postMessage({ id, kind: 'done', ...result } satisfies WorkerReply);
  } catch (error) {
    port.postMessage({ id, kind: 'failed', message: String((error as Error)?.message ?? error).slice(0, 200) } satisfies WorkerReply);
  }
}
