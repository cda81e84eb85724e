import { detectAccess, type AccessChallenge } from '../auth/detect.js';
import type { HeaderMap } from '../http/client.js';

const ACCESS_METADATA_PATH = '/.well-known/cloudflare-access-protected-resource';

/**
 * What the bridges react to: Access asking for a (new) credential, i.e. a 401
 * naming Access's own resource metadata, or a 302 to the Access login page.
 * A 403 from Access is its block page (passed on as is), and a 401 naming
 * other resource metadata is the application's own OAuth: `own_oauth`.
 */
export async function accessChallengeOf(status: number, headers: HeaderMap, url: URL): Promise<AccessChallenge | 'own_oauth' | undefined> {
  const challenge = await detectAccess({ status, headers }, url);
  if (!challenge || challenge.style === 'forbidden') return undefined;
  if (challenge.style === 'bearer' && challenge.resourceMetadataUrl && !challenge.resourceMetadataUrl.includes(ACCESS_METADATA_PATH)) return 'own_oauth';
  return challenge;
}
