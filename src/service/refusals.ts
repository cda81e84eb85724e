import { appLabel, type AppKey } from '../auth/app-key.js';
import type { AccessChallenge } from '../auth/detect.js';
import type { StoredSession } from '../auth/store.js';
import { AccessError, type AccessErrorCode } from '../core/errors.js';
import type { AccessService } from './access-service.js';
import { plainSteps, step } from '../core/next-step.js';

/**
 * No login loops: an application that refused the user (its policy said no,
 * a login was denied or failed, or it refused again right after a successful
 * login) gets no new browser login until the cool-down passes or the user
 * forces one. Refusals live in the store, so every process (and the CLI) obeys them.
 */
export async function recordRefusal(svc: AccessService, key: AppKey, error: AccessError): Promise<void> {
  await svc.store.putRefusal(key, plainSteps(error.message), svc.config.denyCoolDownMs, DENIED_LOGIN.has(error.code) ? 'refused' : 'failed').catch(() => {});
}

/** A login the user or the policy said no to. */
const DENIED_LOGIN = new Set<AccessErrorCode>(['authorization_denied', 'policy_denied']);

/**
 * How a login may end without counting as failed: the user simply did not
 * finish in time, a logout cancelled it, or another process took it over.
 */
const NOT_FAILED = new Set<AccessErrorCode>(['login_timeout', 'login_cancelled', 'login_pending']);

/**
 * Does the way a login ended hold back the next browser for its application?
 * `error` is what a login's `done` rejected with, so it happened once the user
 * had been sent to sign in (what fails before that, such as discovery,
 * registration or a missing cloudflared, rejects `begin` and is never seen
 * here): an error sent back to the callback, a callback without a usable code,
 * a code exchange refused or not answered, cloudflared failing or printing
 * another application's token. A new browser right away would most likely end
 * the same way.
 */
export function endsInCoolDown(error: unknown): error is AccessError {
  return error instanceof AccessError && !NOT_FAILED.has(error.code);
}

/**
 * A browser login held back by a recent refusal. Besides the sentences (worded
 * for an agent), it carries what a surface needs to word the next step its own
 * way: the URL to log in to again, whether the last login failed (rather than
 * being refused), and until when the cool-down lasts.
 */
export class LoginHeldBackError extends AccessError {
  override readonly name = 'LoginHeldBackError';
  constructor(
    message: string,
    nextStep: string,
    readonly heldBack: { application: AppKey; url: string; failed: boolean; until: number },
  ) {
    super('login_held_back', message, nextStep);
  }
}

/** Throws when a browser login for `key` is held back by a recent refusal (unless forced). */
export function assertMayLogIn(svc: AccessService, key: AppKey, url: URL): void {
  const refusal = svc.store.getRefusal(key);
  if (!refusal) return;
  const failed = refusal.kind === 'failed';
  const until = new Date(refusal.until).toISOString();
  throw new LoginHeldBackError(
    `No new browser login was started for ${appLabel(key)}: ${failed ? 'the last login to it failed' : 'it refused the user'} at ${new Date(refusal.at).toISOString()} (${refusal.message.replace(/\s*Next step:.*$/s, '')}), and another login right away would likely end the same way.`,
    failed
      ? `Tell the user why the last login failed; once the cause is fixed (or to simply try again before ${until}), ${step('login', { url: url.href, force: true })}.`
      : `Ask the user whether their account should have access (the Access administrator decides). To try again before ${until}, ${step('login', { url: url.href, force: true })}.`,
    { application: key, url: url.href, failed, until: refusal.until },
  );
}

/** Who the session signed in as, when the token says (a cloudflared JWT carries the email; managed OAuth tokens are opaque). */
function signedInAs(session: StoredSession | undefined): string {
  if (session?.method !== 'cloudflared') return '';
  try {
    const claims = JSON.parse(Buffer.from(session.access_token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { email?: unknown };
    return typeof claims.email === 'string' ? ` as ${claims.email}` : '';
  } catch {
    return '';
  }
}

/** Access refused an authenticated request (its block page, a 403 with its headers, or a redirect to the deny URL). */
export function policyDenied(key: AppKey, session: StoredSession | undefined, detail: { status: number; challenge?: AccessChallenge; refresh?: boolean }): AccessError {
  const how = detail.refresh
    ? 'Access refused to renew the session (policy is checked again on every renewal)'
    : detail.challenge?.denyUrl
      ? `Access answered HTTP ${detail.status} to its deny page ${detail.challenge.denyUrl}`
      : `Access answered HTTP ${detail.status}`;
  const ray = detail.challenge?.rayId ? ` (ray id ${detail.challenge.rayId})` : '';
  return new AccessError(
    'policy_denied',
    `Signed in${signedInAs(session)}, but the policy of the application ${appLabel(key)} does not admit this account: ${how}${ray}. This is not a failed login, and no new login was started.`,
    `Tell the user their account is not allowed by this application's Access policy; the Access administrator can change that${detail.challenge?.rayId ? ` (give them the ray id ${detail.challenge.rayId})` : ''}. If the user signs in with another account, ${step('login', { url: key, force: true })}.`,
  );
}
