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

const OPEN = '\u27e6step ';
const CLOSE = '\u27e7';
const MARKER = /\u27e6step ([^\u27e7]*)\u27e7/g;

/** A next step inside a sentence, e.g. `To try again, ${step('login', { url, force: true })}.` */
export function step(action: NextAction, args: NextStep['args'] = {}): string {
  return `${OPEN}${encodeURIComponent(JSON.stringify({ action, args }))}${CLOSE}`;
}

/** Replaces every step marker in `text` with the surface's words for it. */
export function renderSteps(text: string, render: (step: NextStep) => string): string {
  if (!text.includes(OPEN)) return text;
  return text.replace(MARKER, (whole, marked: string) => {
    const capital = marked.startsWith('^');
    const encoded = capital ? marked.slice(1) : marked;
    try {
      const parsed = NextStepSchema.safeParse(JSON.parse(decodeURIComponent(encoded)));
      if (!parsed.success) return whole;
      const words = render(parsed.data);
      return capital ? words.charAt(0).toUpperCase() + words.slice(1) : words;
    } catch {
      return whole;
    }
  });
}

/** Renders the steps in every string of a JSON-like value (results carry sentences in several fields). */
export function renderStepsDeep<T>(value: T, render: (step: NextStep) => string): T {
  if (typeof value === 'string') return renderSteps(value, render) as T;
  if (Array.isArray(value)) return value.map((item) => renderStepsDeep(item, render)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderStepsDeep(v, render)])) as T;
  }
  return value;
}

/** A step at the start of a sentence: renderers write it lower-case ("call …", "run …"); this marks it for a capital. */
export function cap(marked: string): string {
  return marked.replace(OPEN, `${OPEN}^`);
}
