import type { z } from 'zod';

/** Whether a value passes a schema: the same verdict as `schema.safeParse(value).success`, without zod's run. */
export type PlainCheck = (value: unknown) => boolean;

interface Def {
  type: string;
  innerType?: { _zod: { def: Def } };
  checks?: { _zod: { def: CheckDef } }[];
  entries?: Record<string, unknown>;
}

interface CheckDef {
  check: string;
  format?: string;
  value?: unknown;
  inclusive?: boolean;
}

/**
 * A direct check for the schemas most arguments have: a string, a boolean, an
 * enum of strings, a number with bounds or whole (each optional or not).
 * Anything else (a refinement, a length, a record, a union, a transform) gives
 * undefined and is left to zod. A call whose every argument passes its plain
 * check skips zod's parse, a fair share of reading a warm call's arguments;
 * one that does not is parsed by zod, whose issues make our messages.
 */
export function plainCheckOf(schema: z.ZodType): PlainCheck | undefined {
  let def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  let optional = false;
  if (def.type === 'optional' && def.innerType) {
    // A refinement of the optional itself is a check of its own.
    if (def.checks?.length) return undefined;
    optional = true;
    def = def.innerType._zod.def;
  }
  // Only the members a plain schema has: z.int(), z.email() and the like keep their rule in the def itself (format, check, coerce).
  if (Object.keys(def).some((key) => !PLAIN_DEF_KEYS.has(key))) return undefined;
  const check = innerCheck(def);
  if (!check) return undefined;
  return optional ? (value) => value === undefined || check(value) : check;
}

const PLAIN_DEF_KEYS = new Set(['type', 'checks', 'entries']);

function innerCheck(def: Def): PlainCheck | undefined {
  const checks = (def.checks ?? []).map((check) => check._zod.def);
  switch (def.type) {
    case 'string':
      return checks.length ? undefined : (value) => typeof value === 'string';
    case 'boolean':
      return checks.length ? undefined : (value) => typeof value === 'boolean';
    case 'enum': {
      const values = Object.values(def.entries ?? {});
      if (checks.length || !values.every((value) => typeof value === 'string')) return undefined;
      const allowed = new Set(values);
      return (value) => typeof value === 'string' && allowed.has(value);
    }
    case 'number':
      return numberCheck(checks);
    default:
      return undefined;
  }
}

function numberCheck(checks: CheckDef[]): PlainCheck | undefined {
  const tests: PlainCheck[] = [(value) => typeof value === 'number' && Number.isFinite(value)];
  for (const check of checks) {
    if (check.check === 'number_format' && check.format === 'safeint') tests.push((value) => Number.isSafeInteger(value));
    else if ((check.check === 'greater_than' || check.check === 'less_than') && typeof check.value === 'number') {
      const bound = check.value;
      const above = check.check === 'greater_than';
      tests.push(check.inclusive ? (value) => (above ? (value as number) >= bound : (value as number) <= bound) : (value) => (above ? (value as number) > bound : (value as number) < bound));
    } else return undefined;
  }
  return (value) => tests.every((test) => test(value));
}
