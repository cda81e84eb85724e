import type { ModelView } from '../models/view.js';
import type { RunResult } from '../processes.js';
import type { Workspace } from '../workspace.js';

export interface CallOutcome {
  /** What the model received for the access_fetch call; undefined if the call never came back to it. */
  view?: ModelView;
  /** Why there is no view, or anything worth showing in the table. */
  note?: string;
  /** Client output for the log when a case fails. */
  diagnostics: string;
}

/** One real MCP client, pinned, driven so that it calls access_fetch once with `args`. */
export interface ClientDriver {
  id: string;
  label: string;
  install(log: (line: string) => void): Promise<void>;
  callAccessFetch(ws: Workspace, args: Record<string, unknown>, timeoutMs: number): Promise<CallOutcome>;
}

export function describeRun(name: string, run: RunResult): string {
  const how = run.timedOut ? 'timed out' : `exited ${run.code ?? run.signal}`;
  return `${name} ${how} after ${(run.ms / 1000).toFixed(1)} s\n--- stdout (tail)\n${run.stdout.slice(-3000)}\n--- stderr (tail)\n${run.stderr.slice(-3000)}`;
}

/** A tool's name as offered to the model; a note when the client did not offer it. */
export function missingToolNote(offered: string[], tool: string): string {
  return offered.length ? `${tool} not among the ${offered.length} tools offered to the model` : 'the client never offered tools to the model';
}
