import { AccessError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { finding, type Finding } from './finding.js';

/**
 * A failed protocol step as a named finding: `<step>_unreachable` (network),
 * `_http_error`, `_malformed` (not JSON), `_incomplete` (fields missing or
 * wrong), else `_refused`; the error's own sentence and next step.
 */
export function stepFailure(check: string, step: string, error: unknown): Finding {
  const message = redactSecrets(error instanceof Error ? error.message : String(error));
  const fix = error instanceof AccessError ? error.nextStep : undefined;
  let kind = 'refused';
  if (error instanceof AccessError && error.code === 'network_error') kind = 'unreachable';
  else if (/answered HTTP \d+|failed \(HTTP \d+\)/.test(message)) kind = 'http_error';
  else if (/is not valid JSON/.test(message)) kind = 'malformed';
  else if (/is malformed|lists no |has an invalid/.test(message)) kind = 'incomplete';
  return finding(check, `${step}_${kind}`, 'fail', message, fix);
}
