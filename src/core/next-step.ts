import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Next steps as data. The service layer says *what* to do next (an action and
 * its arguments); the MCP layer renders it as a tool call with arguments, the
 * CLI as a command line — each in its own words, so no tool name or CLI flag
 * appears below them. In text, a step travels as a marker that the surface
 * showing the text replaces (renderSteps); a text shown without rendering
 * still reads, as "<action> {args}".
 */
export const NextActionSchema = z.enum(['login', 'fetch', 'status', 'logout']);
export type NextAction = z.infer<typeof NextActionSchema>;

export const NextStepSchema = z.object({
  action: NextActionSchema,
  args: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});
export type NextStep = z.infer<typeof NextStepSchema>;

/**
 * What a fetch can be asked to do beyond the URL, by meaning rather than by
 * a surface's name for it: `save` (write the whole body to a file: save_to for
 * an agent, -o for a person), `replace_file` (over an existing file: overwrite),
 * `continue_at` (the next page of a long text: start_index). A step's args may
 * use them, and a sentence may name one with arg().
 */
export const FetchArgSchema = z.enum(['save', 'replace_file', 'continue_at']);
export type FetchArg = z.infer<typeof FetchArgSchema>;

export const ArgMentionSchema = z.object({ name: FetchArgSchema, value: z.union([z.string(), z.number(), z.boolean()]).optional() });
export type ArgMention = z.infer<typeof ArgMentionSchema>;

/** How a surface words steps and argument mentions. A bare function words steps only (mentions keep their meaning's name). */
export type StepRenderer = ((step: NextStep) => string) | { step: (step: NextStep) => string; arg: (mention: ArgMention) => string };

/*
 * Markers carry a tag drawn at random per process: text we quote from elsewhere
 * (a page, a server's error_description) cannot spell one, so a hostile origin
 * cannot get its words rendered as one of our next steps.
 */
const TAG = randomBytes(6).toString('hex');
const OPEN = `\u27e6step.${TAG} `;
const ARG_OPEN = `\u27e6arg.${TAG} `;
const CLOSE = '\u27e7';
const MARKER = new RegExp(`\u27e6(step|arg)\\.${TAG} ([^\u27e7]*)\u27e7`, 'g');

/** A next step inside a sentence, e.g. `To try again, ${step('login', { url, force: true })}.` */
export function step(action: NextAction, args: NextStep['args'] = {}): string {
  return `${OPEN}${encodeURIComponent(JSON.stringify({ action, args }))}${CLOSE}`;
}

/** A fetch argument named inside a sentence, e.g. `Use ${arg('save')} to write it to a file.` or `e.g. ${arg('save', './x.bin')}`. */
export function arg(name: FetchArg, value?: ArgMention['value']): string {
  return `${ARG_OPEN}${encodeURIComponent(JSON.stringify(value === undefined ? { name } : { name, value }))}${CLOSE}`;
}

/** Replaces every step and argument marker in `text` with the surface's words for it. */
export function renderSteps(text: string, render: StepRenderer): string {
  if (!text.includes('\u27e6')) return text;
  const words = typeof render === 'function' ? { step: render, arg: (m: ArgMention) => (m.value === undefined ? m.name : `${m.name}: ${String(m.value)}`) } : render;
  return text.replace(MARKER, (whole, kind: string, marked: string) => {
    const capital = marked.startsWith('^');
    const encoded = capital ? marked.slice(1) : marked;
    try {
      const json: unknown = JSON.parse(decodeURIComponent(encoded));
      let said: string;
      if (kind === 'step') {
        const parsed = NextStepSchema.safeParse(json);
        if (!parsed.success) return whole;
        said = words.step(parsed.data);
      } else {
        const parsed = ArgMentionSchema.safeParse(json);
        if (!parsed.success) return whole;
        said = words.arg(parsed.data);
      }
      return capital ? said.charAt(0).toUpperCase() + said.slice(1) : said;
    } catch {
      return whole;
    }
  });
}

/** Renders the steps in every string of a JSON-like value (results carry sentences in several fields). */
export function renderStepsDeep<T>(value: T, render: StepRenderer): T {
  if (typeof value === 'string') return renderSteps(value, render) as T;
  if (Array.isArray(value)) return value.map((item) => renderStepsDeep(item, render)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderStepsDeep(v, render)])) as T;
  }
  return value;
}

/**
 * A text with its markers worded plainly ("login {…}"), for text kept past this
 * process (the store): another process's markers carry another tag.
 */
export function plainSteps(text: string): string {
  return renderSteps(text, (s) => `${s.action} ${JSON.stringify(s.args)}`);
}

/** A step at the start of a sentence: renderers write it lower-case ("call …", "run …"); this marks it for a capital. */
export function cap(marked: string): string {
  return marked.replace(OPEN, `${OPEN}^`);
}
