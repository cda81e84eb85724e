import { z } from 'zod';

/**
 * The names of the ways in, each list derived from one schema so that a new
 * method is added in one place: sessions (a browser login stored per
 * application), credentials (sessions plus service tokens), what a login call
 * may ask for, and what a result reports.
 */
export const SessionMethodSchema = z.enum(['oauth', 'cloudflared']);
export type SessionMethod = z.infer<typeof SessionMethodSchema>;

export const CredentialMethodSchema = z.enum([...SessionMethodSchema.options, 'service_token']);
export type CredentialMethod = z.infer<typeof CredentialMethodSchema>;

/** What a login call may ask for: `auto` picks a service token for a listed host, a live session, else what the application offers. */
export const LoginChoiceSchema = z.enum(['auto', ...CredentialMethodSchema.options]);
export type LoginChoice = z.infer<typeof LoginChoiceSchema>;

/** How a result got in (`none`: no credential was needed or sent). */
export const AuthMethodSchema = z.enum([...CredentialMethodSchema.options, 'none']);
export type AuthMethod = z.infer<typeof AuthMethodSchema>;
