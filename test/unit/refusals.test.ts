import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyDenied } from '../../src/service/refusals.js';

describe('the policy refusal', () => {
  it('names the ray id once in its next step ("give them the ray id 8f2…"), not "the ray id (ray id 8f2…)"', () => {
    const error = policyDenied('https://app.example.com/admin', undefined, { status: 403, challenge: { style: 'forbidden', rayId: '8f2a61c0d3e4b5a6' } });
    assert.match(error.message, /HTTP 403 \(ray id 8f2a61c0d3e4b5a6\)/);
    assert.match(error.nextStep, /\(give them the ray id 8f2a61c0d3e4b5a6\)/);
    assert.doesNotMatch(error.nextStep, /ray id \(ray id/);
  });

  it('without a ray id says nothing of one', () => {
    const error = policyDenied('https://app.example.com/admin', undefined, { status: 403, challenge: { style: 'forbidden' } });
    assert.doesNotMatch(`${error.message} ${error.nextStep}`, /ray id/);
  });
});
