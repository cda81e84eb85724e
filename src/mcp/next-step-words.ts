import { shownUrl } from '../core/url-policy.js';
import { renderSteps, renderStepsDeep, type ArgMention, type FetchArg, type NextAction, type NextStep, type StepRenderer } from '../core/next-step.js';

/** The tool that carries out each next step. Tool names live here, in the MCP layer only. */
const TOOLS: Record<NextAction, string> = { login: 'access_login', fetch: 'access_fetch', status: 'access_status', logout: 'access_logout' };

/** access_fetch's argument for each fetch argument the core names by meaning (see FetchArgSchema). */
const FETCH_ARGS: Record<FetchArg, string> = { save: 'save_to', replace_file: 'overwrite', continue_at: 'start_index' };

function argName(name: string): string {
  return FETCH_ARGS[name as FetchArg] ?? name;
}

/** An argument with its value as a tool call takes it (save without a path: a placeholder for one; a very long URL shortened). */
function argValue(name: string, value: string | number | boolean): string {
  if (name === 'url' && typeof value === 'string') return shownUrl(value);
  return name === 'save' && value === true ? '<file path>' : String(value);
}

/** A next step in an agent's words: the tool call with its arguments. */
export function toolCall(step: NextStep): string {
  // Written without quotes: structured-first clients show the text inside JSON, where quotes come escaped.
  const args = Object.entries(step.args).map(([name, value]) => `${argName(name)}: ${argValue(name, value)}`);
  return args.length ? `call ${TOOLS[step.action]} with ${args.join(', ')}` : `call ${TOOLS[step.action]}`;
}

/** A fetch argument named in a sentence: its access_fetch name (with the value, a path in quotes). */
export function toolArgument(mention: ArgMention): string {
  const name = argName(mention.name);
  // `save` with true: "use it" (the path is the agent's to choose).
  if (mention.value === undefined || (mention.name === 'save' && mention.value === true)) return name;
  return `${name}: ${typeof mention.value === 'string' ? JSON.stringify(mention.value) : String(mention.value)}`;
}

const AGENT_WORDS: StepRenderer = { step: toolCall, arg: toolArgument };

export function forAgents(text: string): string {
  return renderSteps(text, AGENT_WORDS);
}

export function forAgentsDeep<T>(value: T): T {
  return renderStepsDeep(value, AGENT_WORDS);
}
