import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { AccessError } from '../../src/core/errors.js';
import { toolInput } from '../../src/mcp/arguments.js';

const input = toolInput(
  'demo_tool',
  {
    url: z.string(),
    body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    format: z.enum(['markdown', 'raw']).optional(),
    max_length: z.number().int().positive().optional(),
    force: z.boolean().optional(),
  },
  { url: 'https://app.example.com/' },
);

function refusal(raw: unknown): AccessError {
  try {
    input.parse(raw);
  } catch (error) {
    assert.ok(error instanceof AccessError);
    assert.equal(error.code, 'invalid_arguments');
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

describe('tool arguments as models send them', () => {
  it('takes numbers, booleans and JSON objects sent as strings, and null as "not given"', () => {
    const { args, warnings } = input.parse({ url: 'https://a.example/', max_length: ' 100 ', force: 'TRUE', headers: '{"x-a":"1"}', format: null });
    assert.deepEqual(args, { url: 'https://a.example/', max_length: 100, force: true, headers: { 'x-a': '1' } });
    assert.deepEqual(warnings, []);
  });

  it('names an unknown value\'s valid choices and shows a corrected call', () => {
    const error = refusal({ url: 'https://a.example/', format: 'html' });
    assert.match(error.message, /format must be one of "markdown", "raw" \(got "html"\)/);
    assert.equal(error.nextStep, 'Call demo_tool again with corrected arguments, for example {"url":"https://a.example/","format":"markdown"}.');
  });

  it('never puts a placeholder where a long value was: it is left out and named', () => {
    const body = { note: 'x'.repeat(300) };
    const error = refusal({ url: 'https://a.example/', body, max_length: 'all' });
    assert.doesNotMatch(error.nextStep, /as before|<|x{50}/);
    assert.match(error.nextStep, /\{"url":"https:\/\/a\.example\/"\} \(plus body as you sent it\)/);
  });

  it('words the bounds of a number as a sentence: "more than 0", "a whole number"', () => {
    assert.match(refusal({ url: 'https://a.example/', max_length: 0 }).message, /max_length must be more than 0 \(got 0\)\./);
    assert.match(refusal({ url: 'https://a.example/', max_length: 2.5 }).message, /max_length must be a whole number \(got 2\.5\)\./);
  });

  it('says which nested value is wrong, and that 1e400 is not finite', () => {
    assert.match(refusal({ url: 'https://a.example/', headers: { 'x-a': 5 } }).message, /headers\.x-a must be a string \(got 5\)/);
    assert.match(refusal({ url: 'https://a.example/', max_length: '1e400' }).message, /max_length must be a finite number \(got "1e400"\)/);
  });

  it('keeps replies small whatever a call sends: a few problems and warnings, then a count', () => {
    const headers = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`h${i}`, i]));
    const error = refusal({ url: 'https://a.example/', headers });
    assert.ok(error.message.length < 1000, `${error.message.length} characters`);
    assert.match(error.message, /\(and 2995 more\)/);
    const unknown = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`extra${i}`, i]));
    const { warnings } = input.parse({ url: 'https://a.example/', ...unknown });
    assert.equal(warnings.length, 4);
    assert.equal(warnings[3], '(and 2997 more)');
  });

  it('prototype keys are plain unknown arguments', () => {
    const { args, warnings } = input.parse(JSON.parse('{"url":"https://a.example/","__proto__":{"force":true},"constructor":1}'));
    assert.deepEqual(args, { url: 'https://a.example/' });
    assert.equal(warnings.length, 2);
  });
});
