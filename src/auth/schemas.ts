import { z } from 'zod';

/**
 * A URL or identifier from a server that ends up in the authorization URL the
 * user is shown (and repeated in every progress notice): a hostile server must
 * not make that megabytes long.
 */
const Url = z.string().min(1).max(2_048);

/** RFC 9728 protected resource metadata as Cloudflare serves it (both documented shapes). */
export const ResourceMetadataSchema = z
  .object({
    resource: Url,
    authorization_servers: z.array(Url).optional(),
    protected: z.boolean().optional(),
    team_domain: z.string().optional(),
    authentication_method: z.string().optional(),
    authentication_methods: z
      .array(z.union([z.string(), z.object({ name: z.string() }).loose()]))
      .optional(),
  })
  .loose();
export type ResourceMetadata = z.infer<typeof ResourceMetadataSchema>;

/** RFC 8414 authorization server metadata; `issuer` may lack a scheme on Cloudflare. */
export const ServerMetadataSchema = z
  .object({
    issuer: Url,
    authorization_endpoint: Url,
    token_endpoint: Url,
    registration_endpoint: Url.optional(),
    revocation_endpoint: Url.optional(),
    response_types_supported: z.array(z.string()).optional(),
    grant_types_supported: z.array(z.string()).optional(),
    token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
    code_challenge_methods_supported: z.array(z.string()).optional(),
  })
  .loose();
export type ServerMetadata = z.infer<typeof ServerMetadataSchema>;

/** RFC 7591 registration response: only client_id is essential. */
export const RegistrationResponseSchema = z
  .object({
    client_id: Url,
    redirect_uris: z.array(z.string()).optional(),
    token_endpoint_auth_method: z.string().optional(),
  })
  .loose();

/** A token goes into a request header: visible ASCII only (no spaces, no line breaks). */
const HeaderSafeToken = z.string().min(1).max(16_384).regex(/^[\x21-\x7e]+$/, 'must be visible ASCII without spaces or line breaks');

export const TokenResponseSchema = z
  .object({
    access_token: HeaderSafeToken,
    token_type: z.string().optional(),
    expires_in: z.coerce.number().positive().optional(),
    refresh_token: HeaderSafeToken.optional(),
    scope: z.string().optional(),
    resource: z.string().optional(),
  })
  .loose();
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

export const OAuthErrorSchema = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .loose();

/** Short, readable summary of what a zod validation rejected (field paths only, no values). */
export function summarizeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
