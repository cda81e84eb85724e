import assert from 'node:assert/strict';
import type { LogEntry } from '../../src/emulator/index.js';

/**
 * One collector for everything the server shows the outside world in the
 * end-to-end suites (tool results, errors, progress and log notifications,
 * stderr), and a check that no secret appears in any of it. Node's test runner
 * runs each file in its own process, so every e2e suite calls
 * assertNoSecretsLeaked(emulator.secrets()) in its `after` hook.
 */
const outputs: Array<{ kind: string; text: string }> = [];

export function recordOutput(kind: string, text: string): void {
  outputs.push({ kind, text });
}

export function allOutputs(): ReadonlyArray<{ kind: string; text: string }> {
  return outputs;
}

const MIN_SECRET_LENGTH = 8;

/**
 * What to look for per secret: the secret itself, and for a prefixed token
 * ("oauth:<random>") its random part too, so a log that strips the prefix is still caught.
 */
function needles(secrets: Iterable<string>): string[] {
  const found = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    found.add(secret);
    const core = secret.slice(secret.lastIndexOf(':') + 1);
    if (core.length >= 16) found.add(core);
  }
  return [...found];
}

/**
 * Asserts none of `secrets` (tokens, codes, verifiers, client secrets) occurs in any
 * output seen so far — in each output, and in each stream joined up (stderr arrives
 * in chunks that can split a secret).
 */
export function assertNoSecretsLeaked(secrets: Iterable<string>): void {
  const list = needles(secrets);
  const streams = new Map<string, string>();
  for (const { kind, text } of outputs) streams.set(kind, (streams.get(kind) ?? '') + text);
  const haystacks = [...outputs, ...[...streams].map(([kind, text]) => ({ kind: `${kind} (joined)`, text }))];
  for (const { kind, text } of haystacks) {
    for (const secret of list) {
      assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}…) leaked into ${kind} output`);
    }
  }
}

/** Every credential an emulator saw in requests (from its trace: Bearer tokens, cf-access-token), plus the secrets it reports. */
export function seenCredentials(traced: readonly LogEntry[], emulator: { secrets?: () => string[] }): string[] {
  const seen = traced.flatMap((e) => [/^Bearer\s+(\S+)/i.exec(e.headers.authorization ?? '')?.[1], e.headers['cf-access-token']]);
  const reported = emulator.secrets?.() ?? [];
  return [...seen, ...reported].filter((s): s is string => Boolean(s));
}
