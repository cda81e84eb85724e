import type { SessionMethod } from '../auth/store.js';

export type AuthMethod = SessionMethod | 'service_token' | 'none';

export interface FetchResult {
  url: string;
  final_url: string;
  status: number;
  content_type: string;
  auth: AuthMethod;
  title?: string;
  text: string;
  image?: { data: string; mimeType: string };
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
  state: 'authenticated' | 'expired' | 'pending' | 'none';
  method: AuthMethod | 'unknown';
  expires_at?: string;
  expires_in_seconds?: number;
  refreshable?: boolean;
  login_url?: string;
}

export interface ProbeInfo {
  url: string;
  protected: boolean;
  /** What Access offers for this URL. */
  offer: 'managed_oauth' | 'classic' | 'service_auth_only' | 'none' | 'unknown';
  detail: string;
}

export interface LoginResult {
  status: 'authenticated' | 'pending' | 'not_protected';
  host: string;
  method: AuthMethod;
  expires_at?: string;
  login_url?: string;
  message: string;
}
