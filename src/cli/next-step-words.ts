import { renderSteps, renderStepsDeep, type NextStep } from '../core/next-step.js';

/** A next step in a person's words at a terminal: the command line to run. */
export function commandLine(step: NextStep): string {
  const { url, force, method, all, callback_url: pasted } = step.args;
  const words = ['cf-access-mcp', step.action];
  if (all === true) words.push('--all');
  else if (typeof url === 'string') words.push(url);
  if (force === true) words.push('--force');
  if (typeof method === 'string' && method !== 'auto') words.push('--method', method);
  if (pasted !== undefined) words.push('--paste');
  const command = `run \`${words.join(' ')}\``;
  return pasted !== undefined ? `${command} and paste that address at its prompt` : command;
}

export function forTerminal(text: string): string {
  return renderSteps(text, commandLine);
}

export function forTerminalDeep<T>(value: T): T {
  return renderStepsDeep(value, commandLine);
}
