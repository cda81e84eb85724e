import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { toolInput } from '../../src/mcp/arguments.js';
import { plainCheckOf } from '../../src/mcp/plain-check.js';

/** Every kind of value a model or a hostile client may send. */
const VALUES: unknown[] = [
  undefined, null, true, false, '', ' ', 'markdown', 'raw', 'html', 'MARKDOWN', '0', '100', 'true',
  0, -0, 1, -1, 0.5, 2.5, 100, 3600, 3601, 1_000_000, 1_000_001, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e400, -1e400, NaN,
  {}, [], [1], { a: 1 }, new Date(0), Symbol.iterator, 10n, () => 1,
];

/** The schemas our tools' arguments use, and neighbours of them. */
const SIMPLE: [string, z.ZodType][] = [
  ['string', z.string()],
  ['optional string', z.string().optional().describe('described')],
  ['boolean', z.boolean().optional()],
  ['enum', z.enum(['markdown', 'text', 'raw']).optional()],
  ['number', z.number()],
  ['whole, positive, at most a million', z.number().int().positive().max(1_000_000).optional()],
  ['whole, at least 0', z.number().int().min(0).optional()],
  ['whole, 0..3600', z.number().int().min(0).max(3600).optional()],
  ['below 10, above -10', z.number().lt(10).gt(-10)],
];

test('a plain check gives the verdict zod gives, for every value', () => {
  for (const [name, schema] of SIMPLE) {
    const check = plainCheckOf(schema);
    assert.ok(check, `${name} has a plain check`);
    for (const value of VALUES) assert.equal(check(value), schema.safeParse(value).success, `${name}: ${String(value)}`);
  }
});

test('a schema with anything more (a length, a refinement, a record, a union, a transform, a default) is left to zod', () => {
  const complex: z.ZodType[] = [
    z.string().min(1),
    z.string().url(),
    z.number().refine((n) => n !== 3),
    z.number().multipleOf(2),
    z.number().int().optional().default(3),
    z.record(z.string(), z.string()).optional(),
    z.union([z.string(), z.array(z.unknown())]).optional(),
    z.string().transform((s) => s.trim()),
    z.enum(['a']).nullable(),
    z.literal('x'),
    // The rule kept in the def itself, not in its checks.
    z.int(),
    z.int32(),
    z.uint32(),
    z.email(),
    z.url(),
    z.iso.datetime(),
    z.coerce.number(),
    // A refinement of the optional wrapper.
    z.string().optional().refine((s) => s !== 'bad'),
    z.enum(['a', 'b']).optional().refine((s) => s !== 'b'),
  ];
  for (const schema of complex) assert.equal(plainCheckOf(schema), undefined, JSON.stringify(z.toJSONSchema(schema, { unrepresentable: 'any' })));
});

test('arguments read without zod are exactly what zod would give; a refusal still comes from zod in our words', () => {
  const shape = {
    url: z.string(),
    format: z.enum(['markdown', 'raw']).optional(),
    max_length: z.number().int().positive().max(1_000_000).optional(),
    force: z.boolean().optional(),
    headers: z.record(z.string(), z.string()).optional(),
  };
  const input = toolInput('demo_tool', shape, { url: 'https://a.example/' });
  const calls: Record<string, unknown>[] = [
    { url: 'https://a.example/' },
    { url: 'https://a.example/', format: 'raw', max_length: 100, force: false },
    { url: 'https://a.example/', max_length: '100', force: 'true', format: null },
    { url: 'https://a.example/', headers: { a: 'b' } },
    { max_length: 5, url: 'https://a.example/', extra: 1 },
  ];
  for (const call of calls) {
    const { args } = input.parse(call);
    const coerced: Record<string, unknown> = { ...call, max_length: typeof call.max_length === 'string' ? Number(call.max_length) : call.max_length, force: call.force === 'true' ? true : call.force };
    for (const key of Object.keys(coerced)) if (coerced[key] === null || coerced[key] === undefined || !(key in shape)) delete coerced[key];
    assert.deepEqual(args, z.object(shape).parse(coerced), JSON.stringify(call));
  }
  for (const bad of [{}, { url: 5 }, { url: 'u', max_length: 0 }, { url: 'u', max_length: 1.5 }, { url: 'u', format: 'html' }, { url: 'u', force: 'yes' }]) {
    assert.throws(() => input.parse(bad), /demo_tool was called with invalid arguments/, JSON.stringify(bad));
  }
});

test('a field that zod fills in when it is left out (a default, a catch) makes every call of that tool go through zod', () => {
  const input = toolInput('demo_tool', { url: z.string(), x: z.number().default(7), y: z.string().catch('c'), z: z.boolean().optional() }, { url: 'u' });
  assert.deepEqual(input.parse({ url: 'https://a.example/' }).args, { url: 'https://a.example/', x: 7, y: 'c' });
  const plain = toolInput('demo_tool', { url: z.string(), constructor: z.string() }, { url: 'u' });
  assert.throws(() => plain.parse({ url: 'https://a.example/' }), /constructor is required/, 'an inherited name is not a given argument');
});
