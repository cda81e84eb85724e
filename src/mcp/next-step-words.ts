import { renderSteps, renderStepsDeep, type NextAction, type NextStep } from '../core/next-step.js';

/** The tool that carries out each next step. Tool names live here, in the MCP layer only. */
const TOOLS: Record<NextAction, string> = { login: 'access_login', fetch: 'access_fetch', status: 'access_status', logout: 'access_logout' };

/** A next step in an agent's words: the tool call with its arguments. */
export function toolCall(step: NextStep): string {
  // Written without quotes: structured-first clients show the text inside JSON, where quotes come escaped.
  const args = Object.entries(step.args).map(([name, value]) => `${name}: ${String(value)}`);
  return args.length ? `call ${TOOLS[step.action]} with ${args.join(', ')}` : `call ${TOOLS[step.action]}`;
}

export function forAgents(text: string): string {
  return renderSteps(text, toolCall);
}

export function forAgentsDeep<T>(value: T): T {
  return renderStepsDeep(value, toolCall);
}
