import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { SecretNeedles, StreamMask } from '../../src/core/secret-scrubber.js';

/** The plain search SecretNeedles#mask must agree with: every spelling, each found whole, left to right, none overlapping. */
function maskedPlainly(data: Buffer, secrets: string[]): Buffer {
  const out = Buffer.from(data);
  const forms = [...new Set(secrets.filter((s) => s.length >= 8).flatMap((s) => [s, s.replaceAll('/', '\\/'), encodeURIComponent(s)]))];
  for (const form of forms) {
    const bytes = Buffer.from(form);
    const mask = Buffer.from(('[redacted]' + '*'.repeat(bytes.length)).slice(0, bytes.length), 'latin1');
    for (let at = out.indexOf(bytes); at !== -1; at = out.indexOf(bytes, at + bytes.length)) mask.copy(out, at);
  }
  return out;
}

/** Random bytes drawn from the secret's own characters (so near misses abound) with whole copies of it planted. */
function haystack(secret: string, length: number, copies: number): Buffer {
  const alphabet = Buffer.from(secret + 'ab \n');
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = alphabet[randomInt(alphabet.length)]!;
  for (let c = 0; c < copies; c++) data.write(secret, randomInt(Math.max(1, length - secret.length)), 'latin1');
  return data;
}

const SECRETS = {
  // The search starts at the 'J' of "eyJ" (its rarest byte), not at the 'e'.
  jwt: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXBhcnQ',
  // Nothing rarer than its first byte: searched from the start.
  hex: '0123456789abcdef0123456789abcdef',
  // Spelt three ways; its rarest byte (the Q) sits near the end.
  slashed: 'oauth:abc/def+ghi/jklQmnopqrstu',
  // The rare byte repeats: the first one is the anchor.
  repeated: 'xxQxxQxxQxxQxxQxxQ',
};

describe('SecretNeedles: masking from the rarest byte finds what a search for the whole secret finds', () => {
  for (const [name, secret] of Object.entries(SECRETS)) {
    it(`${name}: random near misses and planted copies, masked as the plain search masks them`, () => {
      const needles = new SecretNeedles([secret]);
      for (let round = 0; round < 200; round++) {
        const data = haystack(secret, randomInt(1, 400), randomInt(0, 4));
        const expected = maskedPlainly(data, [secret]);
        const masked = Buffer.from(data);
        needles.mask(masked);
        assert.deepEqual(masked, expected, `round ${round}: ${data.toString('latin1')}`);
      }
    });

    it(`${name}: the same through a StreamMask cut into random chunks (a secret split across them is still masked)`, () => {
      const needles = new SecretNeedles([secret]);
      for (let round = 0; round < 100; round++) {
        const data = haystack(secret, randomInt(1, 600), randomInt(0, 5));
        const expected = maskedPlainly(data, [secret]);
        const stream = new StreamMask(needles);
        const out: Buffer[] = [];
        for (let at = 0; at < data.length; ) {
          const size = randomInt(1, 40);
          stream.push(Buffer.from(data.subarray(at, at + size)), (part) => out.push(Buffer.from(part)));
          at += size;
        }
        out.push(stream.end());
        assert.deepEqual(Buffer.concat(out), expected, `round ${round}`);
      }
    });
  }

  it('masks a secret at the very start, back to back with itself, and right after a false start that matches only from the anchor on', () => {
    const secret = SECRETS.jwt;
    const rest = secret.slice(2);
    const data = Buffer.from(`${secret}${secret}xx${rest}..${'e' + rest}${secret}`);
    const masked = Buffer.from(data);
    new SecretNeedles([secret]).mask(masked);
    assert.deepEqual(masked, maskedPlainly(data, [secret]));
    assert.ok(!masked.includes(secret));
    assert.equal(masked.toString().split('[redacted]').length - 1, 3);
  });

  it('ignores the part after the anchor when it starts too early in the buffer to have the secret before it', () => {
    const secret = SECRETS.jwt;
    const data = Buffer.from(`J${secret.slice(3)} then ${secret}`);
    const masked = Buffer.from(data);
    new SecretNeedles([secret]).mask(masked);
    assert.deepEqual(masked, maskedPlainly(data, [secret]));
  });
});
