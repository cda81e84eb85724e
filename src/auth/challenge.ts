import { processRevocationResponse, WWWAuthenticateChallengeError } from 'oauth4webapi';

export interface Challenge {
  scheme: string; // lower-cased
  parameters: Record<string, string | undefined>; // lower-cased names
}

/**
 * Parses WWW-Authenticate (RFC 9110 §11.6.1: several challenges, quoted
 * strings with commas and escapes) with oauth4webapi's parser, reached through
 * its public API: a non-200 response carrying the header makes it throw a
 * WWWAuthenticateChallengeError whose `cause` lists the parsed challenges.
 * Returns [] for an absent or unparseable header.
 */
export async function parseChallenges(header: string | string[] | null | undefined): Promise<Challenge[]> {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  const challenges: Challenge[] = [];
  for (const value of values) {
    if (value.length > 16_384) continue;
    try {
      await processRevocationResponse(new Response(null, { status: 401, headers: { 'www-authenticate': value } }));
    } catch (error) {
      if (!(error instanceof WWWAuthenticateChallengeError)) continue;
      for (const c of error.cause) {
        challenges.push({ scheme: c.scheme.toLowerCase(), parameters: { ...c.parameters } });
      }
    }
  }
  return challenges;
}

/** The `resource_metadata` URL of the first Bearer or Cloudflare-Access challenge that has one. */
export function resourceMetadataFrom(challenges: Challenge[]): string | undefined {
  for (const c of challenges) {
    if ((c.scheme === 'bearer' || c.scheme === 'cloudflare-access') && c.parameters.resource_metadata) {
      return c.parameters.resource_metadata;
    }
  }
  return undefined;
}
