import { z } from 'zod';
import { AccessError } from '../auth/errors.js';
import { truncate } from '../auth/url-policy.js';

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
  const name = issue.path.length ? issue.path.join('.') : 'the arguments';
  if (field?.json.enum && issue.path.length === 1) {
    return `${name} must be one of ${field.json.enum.map((v) => JSON.stringify(v)).join(', ')} (got ${shown(given)}).`;
  }
  switch (issue.code) {
    case 'invalid_type':
      if (given === undefined && issue.path.length === 1) return `${name} is required.`;
      return `${name} must be ${article(issue.expected)} (got ${shown(issue.path.length === 1 ? given : undefined)}).`;
    case 'too_small':
      return `${name} must be at least ${issue.inclusive === false ? `more than ${issue.minimum}` : issue.minimum} (got ${shown(given)}).`;
    case 'too_big':
      return `${name} must be at most ${issue.maximum} (got ${shown(given)}).`;
    case 'invalid_union':
      return `${name} has the wrong type (got ${shown(given)}).`;
    default:
      return `${name}: ${issue.message}.`;
  }
}

/** The arguments as they were, with each refused one replaced by a valid value or dropped. */
function correctedCall(fields: Map<string, Field>, args: Record<string, unknown>, bad: Set<string>, example: Record<string, unknown>): Record<string, unknown> {
  const call: Record<string, unknown> = {};
  for (const [name, field] of fields) {
    if (!bad.has(name)) {
      // Long values (a body, many headers) are abbreviated: the point is the shape of the call.
      if (args[name] !== undefined) call[name] = (JSON.stringify(args[name])?.length ?? 0) > 200 ? '<as before>' : args[name];
      continue;
    }
    if (field.json.enum?.length) call[name] = field.json.default ?? field.json.enum[0];
    else if (field.required) call[name] = example[name];
  }
  return call;
}

export function toolInput<S extends z.ZodRawShape>(tool: string, shape: S, example: Record<string, unknown>): ToolInput<S> {
  const strict = z.object(shape);
  const fields = new Map<string, Field>();
  const advertised: Record<string, z.ZodType> = {};
  const required: string[] = [];
  for (const [name, schema] of Object.entries(shape) as [string, z.ZodType][]) {
    const json = jsonSchemaOf(schema);
    const isRequired = !schema.safeParse(undefined).success;
    fields.set(name, { name, schema, json, required: isRequired });
    advertised[name] = z.unknown().optional().meta(json);
    if (isRequired) required.push(name);
  }
  const names = [...fields.keys()];

  return {
    advertised: z.looseObject(advertised).meta({ required }),
    parse(raw) {
      const given = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
      const warnings: string[] = [];
      const args: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(given)) {
        const field = fields.get(name);
        if (!field) {
          warnings.push(`Unknown argument "${truncate(name, 40)}" was ignored; ${tool} takes ${names.join(', ')}.`);
          continue;
        }
        if (value === null && !field.required) continue;
        args[name] = coerce(field, value);
      }
      const parsed = strict.safeParse(args);
      if (parsed.success) return { args: parsed.data, warnings };
      const bad = new Set<string>();
      const problems = parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '');
        bad.add(name);
        return problemOf(issue, fields.get(name), given[name]);
      });
      const call = correctedCall(fields, args, bad, example);
      throw new AccessError(
        'invalid_arguments',
        `${tool} was called with invalid arguments: ${[...new Set(problems)].join(' ')}`,
        `Call ${tool} again with corrected arguments, for example ${JSON.stringify(call)}.`,
      );
    },
  };
}
