/**
 * The conversion worker's entry: one job at a time from convert-pool.ts. It
 * first hands back the scrubbed body as served (the fallback if the main
 * thread stops it at the time budget), then the converted text.
 */
import { parentPort } from 'node:worker_threads';
import { convertText, type TextJob } from './text-convert.js';

export type WorkerReply =
  | { id: number; kind: 'served'; text: string }
  | { id: number; kind: 'done'; text: string; title?: string; notes: string[] }
  | { id: number; kind: 'failed'; message: string };

// A worker's stdout is the process's stdout, our MCP channel: whatever a library prints is dropped.
// (Piping it to the main thread instead, with `stdout: true`, keeps the process from ever exiting.)
for (const method of ['log', 'info', 'debug', 'warn', 'error', 'trace', 'dir', 'table'] as const) console[method] = () => {};
process.stdout.write = (() => true) as typeof process.stdout.write;

const port = parentPort!;
port.on('message', (message: { id: number; job: TextJob }) => void handle(message.id, message.job));

async function handle(id: number, job: TextJob): Promise<void> {
  try {
    const result = await convertText(job, (text) => port.postMessage({ id, kind: 'served', text } satisfies WorkerReply));
    port.postMessage({ id, kind: 'done', ...result } satisfies WorkerReply);
  } catch (error) {
    port.postMessage({ id, kind: 'failed', message: String((error as Error)?.message ?? error).slice(0, 200) } satisfies WorkerReply);
  }
}
