import type { AccessChallenge } from '../auth/detect.js';
import type { LoginMethod } from '../auth/login-method.js';
import type { AccessError } from '../core/errors.js';
import type { AccessService } from './access-service.js';

/**
 * The error for a configured credential (a service token) Access refused at
 * `url`, worded for what the application allows: when it lets no person sign
 * in, a browser login is not offered as the way out.
 */
export async function configuredRefusal(svc: AccessService, method: LoginMethod, url: URL, status: number, challenge?: AccessChallenge, signal?: AbortSignal): Promise<AccessError> {
  return method.refusedError(url, status, await offersSignIn(svc, url, challenge, signal));
}

/**
 * A refusal that leads to the login page, or a Bearer challenge, offers one.
 * A 403 with cf-access-aud is also what strict service-token checks answer on
 * an application people sign in to; only one request without credentials
 * tells it from an application with only Service Auth policies (403 again).
 */
async function offersSignIn(svc: AccessService, url: URL, challenge: AccessChallenge | undefined, signal?: AbortSignal): Promise<boolean> {
  if (challenge && challenge.style !== 'forbidden') return true;
  try {
    return (await svc.probe(url, signal)).challenge?.style !== 'forbidden';
  } catch {
    // Unknown: the wording that names both ways out.
    return true;
  }
}
