import { z } from 'zod';
import { AccessError } from '../core/errors.js';
import { truncate } from '../core/url-policy.js';
import { plainCheckOf, type PlainCheck } from './plain-check.js';

/**
 * Tool arguments as models actually send them. The SDK would refuse
 * `"max_length": "100"` or `format: "html"` with its own -32602 text before
 * our handler runs; instead each tool advertises its exact JSON Schema but
 * registers a schema that accepts anything, and parses here: numbers and
 * booleans sent as strings are taken, `null` for an optional argument means
 * absent, unknown arguments become warnings, and every refusal is an
 * AccessError in our words with a corrected call as the next step.
 */
export interface ToolInput<S extends z.ZodRawShape> {
  /** What the SDK registers: advertises `shape` exactly, accepts any object. */
  readonly advertised: z.ZodType;
  parse(raw: unknown): { args: z.infer<z.ZodObject<S>>; warnings: string[] };
}

type JsonSchema = { type?: string | string[]; enum?: unknown[]; minimum?: number; maximum?: number; exclusiveMinimum?: number; default?: unknown };

interface Field {
  name: string;
  schema: z.ZodType;
  json: JsonSchema;
  required: boolean;
  /** The schema's verdict without zod, when it is simple enough (see plain-check.ts). */
  plain?: PlainCheck;
}

function jsonSchemaOf(schema: z.ZodType): JsonSchema & Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema & Record<string, unknown>;
  delete json.$schema;
  return json;
}

function typesOf(field: Field): string[] {
  const type = field.json.type;
  return Array.isArray(type) ? type : type ? [type] : [];
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The forgiving reading of one value: numbers, booleans and JSON objects that arrived as strings. */
function coerce(field: Field, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  const types = typesOf(field);
  if ((types.includes('number') || types.includes('integer')) && NUMBER.test(text)) return Number(text);
  if (types.includes('boolean') && /^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  if (types.includes('object') && text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
    } catch {
      // Left as given: the schema says why a string is wrong here.
    }
  }
  return value;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value) ?? String(value);
  return truncate(json, 60);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** One sentence per problem, naming the argument, what it takes and what came. */
function problemOf(issue: z.core.$ZodIssue, field: Field | undefined, given: unknown): string {
  const name = issue.path.length ? truncate(issue.path.map(String).join('.'), 60) : 'the arguments';
  // The value at the issue's path, for nested problems (a header value, not the whole headers object).
  if (issue.path.length > 1) given = issue.path.slice(1).reduce<unknown>((value, key) => (value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined), given);
  if (field?.json.enum && issue.path.length === 1) {
    return `${name} must be one of ${field.json.enum.map((v) => JSON.stringify(v)).join(', ')} (got ${shown(given)}).`;
  }
  switch (issue.code) {
    case 'invalid_type':
      if (given === undefined && issue.path.length === 1) return `${name} is required.`;
      if (issue.expected === 'number' && typeof given === 'string' && NUMBER.test(given.trim())) return `${name} must be a finite number (got ${shown(given)}).`;
      if (issue.expected === 'int') return `${name} must be a whole number (got ${shown(given)}).`;
      return `${name} must be ${article(issue.expected)} (got ${shown(given)}).`;
    case 'too_small':
      return `${name} must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum} (got ${shown(given)}).`;
    case 'too_big':
      return `${name} must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum} (got ${shown(given)}).`;
    case 'invalid_union':
      return `${name} has the wrong type (got ${shown(given)}).`;
    default:
      return `${name}: ${issue.message}.`;
  }
}

/**
 * The arguments as they were, with each refused one replaced by a valid value
 * or dropped. Long values (a body, many headers) are left out and named
 * instead: a placeholder in their place would be sent as is.
 */
function correctedCall(fields: Map<string, Field>, args: Record<string, unknown>, bad: Set<string>, example: Record<string, unknown>): { call: Record<string, unknown>; unchanged: string[] } {
  const call: Record<string, unknown> = {};
  const unchanged: string[] = [];
  for (const [name, field] of fields) {
    if (!bad.has(name)) {
      if (args[name] === undefined) continue;
      if ((JSON.stringify(args[name])?.length ?? 0) > 200) unchanged.push(name);
      else call[name] = args[name];
      continue;
    }
    if (field.json.enum?.length) call[name] = field.json.default ?? field.json.enum[0];
    else if (field.required) call[name] = example[name];
  }
  return { call, unchanged };
}

/** At most a few lines of a list, then how many more: a hostile call must not make the reply huge. */
function capped(lines: string[], max = 5): string[] {
  return lines.length <= max ? lines : [...lines.slice(0, max), `(and ${lines.length - max} more)`];
}

export function toolInput<S extends z.ZodRawShape>(tool: string, shape: S, example: Record<string, unknown>): ToolInput<S> {
  const strict = z.object(shape);
  const fields = new Map<string, Field>();
  const advertised: Record<string, z.ZodType> = {};
  const required: string[] = [];
  // Not for a tool any of whose fields zod gives a value when left out (a default, a catch): only zod's parse adds it.
  let fillsAbsent = false;
  for (const [name, schema] of Object.entries(shape) as [string, z.ZodType][]) {
    const json = jsonSchemaOf(schema);
    const absent = schema.safeParse(undefined);
    const isRequired = !absent.success;
    if (absent.success && absent.data !== undefined) fillsAbsent = true;
    fields.set(name, { name, schema, json, required: isRequired, plain: plainCheckOf(schema) });
    advertised[name] = z.unknown().optional().meta(json);
    if (isRequired) required.push(name);
  }
  const names = [...fields.keys()];

  return {
    advertised: z.looseObject(advertised).meta({ required }),
    parse(raw) {
      const given = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
      const unknown: string[] = [];
      const args: Record<string, unknown> = {};
      // Whether every argument passed its plain check: then zod has nothing to add.
      let plain = !fillsAbsent;
      for (const [name, value] of Object.entries(given)) {
        const field = fields.get(name);
        if (!field) {
          unknown.push(name);
          continue;
        }
        if (value === null && !field.required) continue;
        const coerced = coerce(field, value);
        args[name] = coerced;
        if (plain && !field.plain?.(coerced)) plain = false;
      }
      const warnings = capped(unknown.map((name) => `Unknown argument "${truncate(name, 40)}" was ignored; ${tool} takes ${names.join(', ')}.`), 3);
      if (plain && required.every((name) => Object.hasOwn(args, name) && args[name] !== undefined)) return { args: args as z.infer<z.ZodObject<S>>, warnings };
      const parsed = strict.safeParse(args);
      if (parsed.success) return { args: parsed.data, warnings };
      const bad = new Set<string>();
      const problems = parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '');
        bad.add(name);
        return problemOf(issue, fields.get(name), Object.hasOwn(given, name) ? given[name] : undefined);
      });
      const { call, unchanged } = correctedCall(fields, args, bad, example);
      const keep = unchanged.length ? ` (plus ${unchanged.join(' and ')} as you sent ${unchanged.length > 1 ? 'them' : 'it'})` : '';
      throw new AccessError(
        'invalid_arguments',
        `${tool} was called with invalid arguments: ${capped([...new Set(problems)]).join(' ')}`,
        `Call ${tool} again with corrected arguments, for example ${JSON.stringify(call)}${keep}.`,
      );
    },
  };
}
