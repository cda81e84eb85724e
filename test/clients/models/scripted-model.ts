import type { ModelView } from './view.js';

/** The one tool call the scripted model makes, by the client's name for the tool. */
export interface PlannedCall {
  tool: string;
  args: Record<string, unknown>;
}

/** A scripted model endpoint: asks for `PlannedCall` once, then reports what came back. */
export interface ScriptedModel {
  readonly url: string;
  /** Tool names offered in the first request that offered any. */
  toolsOffered(): string[];
  /** What the client sent back for the tool call, as the model would read it; undefined if it never did. */
  received(): ModelView | undefined;
  close(): Promise<void>;
}
