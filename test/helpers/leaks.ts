import assert from 'node:assert/strict';

/**
 * One collector for everything the server shows the outside world in the
 * end-to-end suites (tool results, errors, log notifications, stderr), and a
 * check that no secret appears in any of it.
 */
const outputs: Array<{ kind: string; text: string }> = [];

export function recordOutput(kind: string, text: string): void {
  outputs.push({ kind, text });
}

export function allOutputs(): ReadonlyArray<{ kind: string; text: string }> {
  return outputs;
}

/** Asserts none of `secrets` (tokens, codes, verifiers, client secrets) occurs in any output seen so far. */
export function assertNoSecretsLeaked(secrets: Iterable<string>): void {
  const list = [...new Set([...secrets].filter((s) => s && s.length >= 8))];
  for (const { kind, text } of outputs) {
    for (const secret of list) {
      assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}…) leaked into ${kind} output`);
    }
  }
}
