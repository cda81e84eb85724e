import { renderSteps, renderStepsDeep, type ArgMention, type NextStep, type StepRenderer } from '../core/next-step.js';

/** A next step in a person's words at a terminal: the command line to run. */
export function commandLine(step: NextStep): string {
  const { url, force, method, all, callback_url: pasted, save } = step.args;
  const words = ['cf-access-mcp', step.action];
  if (all === true) words.push('--all');
  else if (typeof url === 'string') words.push(url);
  if (force === true) words.push('--force');
  if (typeof method === 'string' && method !== 'auto') words.push('--method', method);
  if (pasted !== undefined) words.push('--paste');
  if (save !== undefined) words.push('-o', save === true ? '<file>' : String(save));
  // continue_at needs no words: the command line prints the whole text, unpaged.
  const command = `run \`${words.join(' ')}\``;
  return pasted !== undefined ? `${command} and paste that address at its prompt` : command;
}

/** A fetch argument named in a sentence: the command line's option for it. */
export function commandOption(mention: ArgMention): string {
  switch (mention.name) {
    case 'save':
      return mention.value === undefined || mention.value === true ? '-o <file>' : `-o ${String(mention.value)}`;
    case 'replace_file':
      return 'a file that may be replaced';
    case 'continue_at':
      return 'the rest of the text';
  }
}

const TERMINAL_WORDS: StepRenderer = { step: commandLine, arg: commandOption };

export function forTerminal(text: string): string {
  return renderSteps(text, TERMINAL_WORDS);
}

export function forTerminalDeep<T>(value: T): T {
  return renderStepsDeep(value, TERMINAL_WORDS);
}
