import { z } from 'zod';
import { AuthMethodSchema, type AuthMethod } from '../auth/methods.js';

export type { AuthMethod } from '../auth/methods.js';

export interface FetchResult {
  url: string;
  final_url: string;
  status: number;
  content_type: string;
  auth: AuthMethod;
  title?: string;
  text: string;
  /** Our note that ends `text` (paging), with its next-step markers; what comes before it is the origin's (see Page.note). */
  note?: string;
  image?: { data: string; mimeType: string };
  /** The body is binary and was not shown (its description says how to save it). */
  binary?: true;
  total_length: number;
  start_index: number;
  truncated: boolean;
  next_start_index?: number;
  headers: Record<string, string>;
  saved_to?: string;
  bytes?: number;
  warnings: string[];
}

export interface SessionInfo {
  host: string;
  origin: string;
  /** The application, as people name it: host plus its path when it lives under one. */
  application: string;
  /** Its RFC 9728 resource (origin, or origin + path). */
  resource: string;
  state: 'authenticated' | 'expired' | 'pending' | 'none';
  method: AuthMethod | 'unknown';
  expires_at?: string;
  expires_in_seconds?: number;
  refreshable?: boolean;
  /** Why the session cannot be renewed without signing in again (no refresh token issued, refresh grant refused). */
  refresh_note?: string;
  login_url?: string;
  /** Why no browser login starts for this application for now (it refused the user). */
  refused?: string;
}

export interface ProbeInfo {
  url: string;
  protected: boolean;
  /** What Access offers for this URL. */
  offer: 'managed_oauth' | 'classic' | 'service_auth_only' | 'none' | 'unknown';
  /** What access_fetch would use first: a listed service token, a live session, else what the offer allows. */
  method?: AuthMethod;
  detail: string;
}

/** Where service tokens go (host patterns only, never credentials) and why configured ones are unused. */
export interface ServiceTokenSummary {
  hosts: string[];
  /** Single-header mode: the header carrying the JSON credentials. */
  header?: string;
  unused: string[];
  problems: string[];
}

/**
 * What a login call returns. A pending login has exactly the fields a fetch
 * that ran into it reports (see pending.ts); the other states add none.
 */
export const LoginResultSchema = z.object({
  status: z.enum(['authenticated', 'pending', 'not_protected']),
  host: z.string(),
  method: AuthMethodSchema,
  expires_at: z.string().optional(),
  login_url: z.string().optional(),
  browser_opened: z.boolean().optional(),
  message: z.string(),
  next_step: z.string().optional(),
});
export type LoginResult = z.infer<typeof LoginResultSchema>;
