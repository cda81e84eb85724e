/**
 * Runs text conversion in worker threads, so that no page can stall the
 * event loop that serves every other tool call and the login callback. The
 * first worker starts with the first page that needs it and stays warm; when
 * a job has held it for SECOND_WORKER_AFTER_MS while others queue, a second
 * worker takes the queue, and is ended again once idle. Each job has its own
 * time budget (CF_ACCESS_MCP_CONVERT_BUDGET_MS) from its start: a job that
 * outlasts it or the memory limit ends its worker (the next job that needs
 * one starts a fresh one) and is answered with the body as served.
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

/**
 * A job queued behind one that has run this long gets a second worker, so a
 * slow page (a 5 MB one can take most of the budget) holds up only itself.
 * Most pages convert in well under this; a second worker costs a start-up and
 * its memory, so it is not started for the ordinary queue of a busy moment.
 */
const SECOND_WORKER_AFTER_MS = 250;
const MAX_WORKERS = 2;
/** How long a new worker may take to start and load its libraries before a job it was given is answered as served. */
const WORKER_START_LIMIT_MS = 30_000;
/** The second worker is ended after this long without a job: idle memory stays that of one worker. */
const EXTRA_WORKER_IDLE_MS = 5_000;

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
  /** When it was handed to its worker, then when the worker began converting it (performance.now()). */
  startedAt?: number;
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

/** One worker and the job it runs, if any. */
interface Slot {
  worker: Worker;
  job?: Pending;
  /** Set while a second worker sits idle: it is ended when this fires. */
  idleTimer?: NodeJS.Timeout;
}

const slots: Slot[] = [];
const queue: Pending[] = [];
let nextId = 1;
let requested = 0;
/** Armed while a job queues behind a running one that has not yet run SECOND_WORKER_AFTER_MS. */
let spareTimer: NodeJS.Timeout | undefined;

/** How many conversions callers have asked for so far (the idle warm-up stops once a real one comes). */
export function conversionsRequested(): number {
  return requested;
}

/** Whether a worker is running (the first starts with the first page that needs it). */
export function converterWorkerRunning(): boolean {
  return slots.length > 0;
}

/** How many workers are running: one, or two while a slow page holds the first. */
export function converterWorkerCount(): number {
  return slots.length;
}

/** Counts a conversion a caller asked for that ran elsewhere (a small page on the main thread). */
export function noteConversionRequested(): void {
  requested++;
}

/** Converts `job` in a worker; never rejects (a failure gives the body as served, with a note). */
export function convertInWorker(job: TextJob, budgetMs = conversionBudgetMs(), options: { warmUp?: boolean } = {}): Promise<TextResult> {
  if (!options.warmUp) requested++;
  return new Promise((resolve) => {
    queue.push({ id: nextId++, job, budgetMs, resolve });
    schedule();
  });
}

/** Hands queued jobs to idle workers, starting the first worker, or the second when the first is held by a slow page. */
function schedule(): void {
  clearTimeout(spareTimer);
  spareTimer = undefined;
  while (queue.length) {
    const slot = slots.find((candidate) => !candidate.job) ?? spareSlot();
    if (!slot) break;
    start(slot, queue.shift()!);
  }
  for (const slot of slots) if (!slot.job) idle(slot);
}

/** A new worker when none runs, or a second one once the running job has had SECOND_WORKER_AFTER_MS; else undefined (and a timer to look again). */
function spareSlot(): Slot | undefined {
  if (!slots.length) return startWorker();
  if (slots.length >= MAX_WORKERS) return undefined;
  const ranFor = Math.min(...slots.map((slot) => performance.now() - slot.job!.startedAt!));
  if (ranFor >= SECOND_WORKER_AFTER_MS) return startWorker();
  spareTimer = setTimeout(schedule, SECOND_WORKER_AFTER_MS - ranFor);
  spareTimer.unref();
  return undefined;
}

function start(slot: Slot, pending: Pending): void {
  clearTimeout(slot.idleTimer);
  slot.idleTimer = undefined;
  slot.job = pending;
  pending.startedAt = performance.now();
  slot.worker.ref();
  // The worker gets its own copy: the caller keeps the bytes for the fallback.
  const bytes = new Uint8Array(pending.job.bytes);
  slot.worker.postMessage({ id: pending.id, job: { ...pending.job, bytes } }, [bytes.buffer]);
  // Until the worker acknowledges the job (its "served" text) it may still be starting: that has its own bound.
  pending.timer = setTimeout(() => giveUp(slot, pending, `the converter did not start within ${WORKER_START_LIMIT_MS / 1000} s`), Math.max(pending.budgetMs, WORKER_START_LIMIT_MS));
}

/** An idle worker keeps no process alive; a second one is ended after a while, so idle memory stays that of one. */
function idle(slot: Slot): void {
  slot.worker.unref();
  if (slots.length < 2 || slot.idleTimer) return;
  slot.idleTimer = setTimeout(() => {
    slot.idleTimer = undefined;
    if (!slot.job && slots.length > 1) retire(slot);
  }, EXTRA_WORKER_IDLE_MS);
  slot.idleTimer.unref();
}

function startWorker(): Slot {
  const worker = new Worker(workerEntry(), {
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
  });
  const slot: Slot = { worker };
  worker.on('message', (reply: WorkerReply) => onReply(slot, reply));
  worker.on('error', () => crashed(slot, 'the converter failed (it may have run out of memory)'));
  worker.on('exit', () => crashed(slot, 'the converter stopped'));
  slots.push(slot);
  return slot;
}

/** Takes the worker out of the pool and ends it; its job, if any, is answered by the caller. */
function retire(slot: Slot): Pending | undefined {
  const index = slots.indexOf(slot);
  if (index < 0) return undefined;
  slots.splice(index, 1);
  clearTimeout(slot.idleTimer);
  void slot.worker.terminate();
  const pending = slot.job;
  slot.job = undefined;
  return pending;
}

function onReply(slot: Slot, reply: WorkerReply): void {
  const pending = slot.job;
  if (!pending || reply.id !== pending.id) return;
  if (reply.kind === 'served') {
    pending.served = reply.text;
    pending.startedAt = performance.now();
    // The budget runs from here, the job's start in a started worker: not from when it was queued, nor through a new worker's start-up.
    clearTimeout(pending.timer);
    pending.timer = setTimeout(() => giveUp(slot, pending, budgetNote(pending)), pending.budgetMs);
    return;
  }
  slot.job = undefined;
  finish(pending, reply.kind === 'done' ? { text: reply.text, title: reply.title, notes: reply.notes } : fallback(pending, 'the converter failed'));
}

function crashed(slot: Slot, why: string): void {
  if (!slots.includes(slot)) return;
  const pending = retire(slot);
  if (pending) finish(pending, fallback(pending, why));
  else schedule();
}

/** Out of time: the worker is ended mid-job (the only way to stop synchronous work); the next job that needs one starts a fresh one. */
function giveUp(slot: Slot, pending: Pending, why: string): void {
  if (slot.job !== pending) return;
  retire(slot);
  finish(pending, fallback(pending, why));
}

function finish(pending: Pending, result: TextResult): void {
  clearTimeout(pending.timer);
  pending.resolve(result);
  schedule();
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
