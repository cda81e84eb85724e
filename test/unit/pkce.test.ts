import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createPkce, createState } from '../../src/auth/pkce.js';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

describe('PKCE (RFC 7636, S256)', () => {
  it('10,000 challenges all start alphanumeric and are the S256 of their verifier', () => {
    const verifiers = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const { verifier, challenge } = createPkce();
      // Cloudflare rejects challenges that start with "-" or "_".
      assert.match(challenge, /^[A-Za-z0-9]/, `challenge #${i} starts with ${challenge[0]}`);
      assert.equal(challenge, createHash('sha256').update(verifier, 'ascii').digest('base64url'));
      assert.match(verifier, BASE64URL);
      assert.ok(verifier.length >= 43 && verifier.length <= 128, `verifier length ${verifier.length}`);
      assert.equal(challenge.length, 43);
      verifiers.add(verifier);
    }
    assert.equal(verifiers.size, 10_000, 'verifiers repeat');
  });

  it('state values are unguessable base64url strings that do not repeat', () => {
    const states = new Set(Array.from({ length: 1000 }, () => createState()));
    assert.equal(states.size, 1000);
    for (const state of states) {
      assert.match(state, BASE64URL);
      assert.ok(state.length >= 32);
    }
  });
});
