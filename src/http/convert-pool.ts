/**
 * Runs text conversion in one worker thread, so that no page can stall the
 * event loop that serves every other tool call and the login callback. The
 * worker starts with the first page that needs it and stays warm; a job that
 * outlasts the time budget (CF_ACCESS_MCP_CONVERT_BUDGET_MS) or the memory
 * limit ends the worker (the next job starts a fresh one) and is answered with
 * the body as served.
 */
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { WorkerReply } from './convert-worker.js';
import { servedText, type TextJob, type TextResult } from './text-convert.js';

export const DEFAULT_CONVERT_BUDGET_MS = 10_000;
/** The largest 5 MiB pages need a few hundred MB of DOM; past this the worker is ended, not the server. */
const WORKER_HEAP_MB = 768;
/**
 * The worker's young generation: V8's default lets it grow to 16 MB, all of it
 * resident for as long as the worker lives (from start-up on, since the idle
 * warm-up starts it). A DOM is long-lived anyway; 4 MB converts as fast.
 */
const WORKER_YOUNG_MB = 4;

const budgetSchema = z.coerce.number().int().min(1).max(600_000);

/** CF_ACCESS_MCP_CONVERT_BUDGET_MS, or the default when unset or not a whole number of milliseconds. */
export function conversionBudgetMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CF_ACCESS_MCP_CONVERT_BUDGET_MS?.trim();
  const parsed = raw ? budgetSchema.safeParse(raw) : undefined;
  return parsed?.success ? parsed.data : DEFAULT_CONVERT_BUDGET_MS;
}

interface Pending {
  id: number;
  job: TextJob;
  budgetMs: number;
  resolve: (result: TextResult) => void;
  served?: string;
  timer?: NodeJS.Timeout;
}

/**
 * The worker's entry: the compiled convert-worker.js next to this file. Under
 * `node --import tsx` (the tests run src/ as TypeScript) Node 20 applies no
 * --import hooks to a worker's entry, so a one-line module loads the
 * TypeScript entry through tsx's API instead.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./convert-worker.js', import.meta.url);
  const entry = JSON.stringify(new URL('./convert-worker.ts', import.meta.url).href);
  const code = `const { tsImport } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); await tsImport(${entry}, ${entry});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

let worker: Worker | undefined;
let current: Pending | undefined;
const queue: Pending[] = [];
let nextId = 1;
let requested = 0;

/** How many conversions callers have asked for so far (the idle warm-up stops once a real one comes). */
export function conversionsRequested(): number {
  return requested;
}

/** Whether the worker is running (it starts with the first page that needs it). */
export function converterWorkerRunning(): boolean {
  return worker !== undefined;
}

/** Counts a conversion a caller asked for that ran elsewhere (a small page on the main thread). */
export function noteConversionRequested(): void {
  requested++;
}

/** Converts `job` in the worker; never rejects (a failure gives the body as served, with a note). */
export function convertInWorker(job: TextJob, budgetMs = conversionBudgetMs(), options: { warmUp?: boolean } = {}): Promise<TextResult> {
  if (!options.warmUp) requested++;
  return new Promise((resolve) => {
    queue.push({ id: nextId++, job, budgetMs, resolve });
    startNext();
  });
}

function startNext(): void {
  if (current || !queue.length) {
    if (!current) worker?.unref();
    return;
  }
  const pending = (current = queue.shift()!);
  const target = ensureWorker();
  target.ref();
  // The worker gets its own copy: the caller keeps the bytes for the fallback.
  const bytes = new Uint8Array(pending.job.bytes);
  target.postMessage({ id: pending.id, job: { ...pending.job, bytes } }, [bytes.buffer]);
  pending.timer = setTimeout(() => giveUp(pending, budgetNote(pending)), pending.budgetMs);
}

function ensureWorker(): Worker {
  if (worker) return worker;
  const started = new Worker(workerEntry(), {
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
  });
  started.on('message', (reply: WorkerReply) => onReply(reply));
  started.on('error', () => {
    if (worker === started) crashed('the converter failed (it may have run out of memory)');
  });
  started.on('exit', () => {
    if (worker === started) crashed('the converter stopped');
  });
  worker = started;
  return started;
}

function onReply(reply: WorkerReply): void {
  const pending = current;
  if (!pending || reply.id !== pending.id) return;
  if (reply.kind === 'served') {
    pending.served = reply.text;
    return;
  }
  finish(pending, reply.kind === 'done' ? { text: reply.text, title: reply.title, notes: reply.notes } : fallback(pending, 'the converter failed'));
}

function crashed(why: string): void {
  worker = undefined;
  if (current) finish(current, fallback(current, why));
}

/** Out of time: the worker is ended mid-job (the only way to stop synchronous work) and replaced on the next job. */
function giveUp(pending: Pending, why: string): void {
  if (current !== pending) return;
  const stopped = worker;
  worker = undefined;
  void stopped?.terminate();
  finish(pending, fallback(pending, why));
}

function finish(pending: Pending, result: TextResult): void {
  clearTimeout(pending.timer);
  current = undefined;
  pending.resolve(result);
  startNext();
}

function budgetNote(pending: Pending): string {
  return `converting it took longer than the ${pending.budgetMs} ms budget (CF_ACCESS_MCP_CONVERT_BUDGET_MS)`;
}

function fallback(pending: Pending, why: string): TextResult {
  // The scrubbed body normally arrived before conversion began; if not, it is made here (linear).
  const text = pending.served ?? servedText(pending.job);
  const shown = pending.job.html ? 'as served (HTML)' : 'as served';
  return { text, notes: [`The page was not converted to ${pending.job.format}: ${why}. It is shown ${shown}; use format "raw" to skip conversion.`] };
}
