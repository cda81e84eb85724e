import { z } from 'zod';
import { rememberSecret } from '../core/redact.js';
import { currentOwner } from './login-lock.js';
import { ResourceMetadataSchema, ServerMetadataSchema } from './schemas.js';
import type { SessionStore } from './store.js';

/**
 * What it takes to finish a browser login after the process that began it is
 * gone: the state and PKCE verifier, the client and redirect URI it
 * registered, the resource, the endpoints and the deadline. Kept only in the
 * 0600 store (the verifier is a secret: never in a result or a log line).
 */
const ResumableFields = z.object({
  origin: z.string(),
  state: z.string(),
  verifier: z.string(),
  redirect_uri: z.string(),
  client_id: z.string(),
  grant_types: z.array(z.string()).optional(),
  resource: z.string(),
  authorization_server: z.string(),
  authorization_url: z.string(),
  server: ServerMetadataSchema,
  resource_metadata: ResourceMetadataSchema,
  started_at: z.number(),
  expires_at: z.number(),
  /** Set once the browser loaded the start address: the callback must carry this cookie (a secret, like the verifier). */
  cookie: z.object({ name: z.string(), value: z.string() }).optional(),
});
type NewResumableLogin = z.infer<typeof ResumableFields>;

export const ResumableLoginSchema = ResumableFields.extend({ pid: z.number(), hostname: z.string() }).loose();
export type ResumableLogin = z.infer<typeof ResumableLoginSchema>;

/** The store's `pending_logins`, one per origin; a record that does not parse is ignored (and replaced by the next login). */
export class PendingLoginStore {
  constructor(private readonly store: SessionStore) {}

  /** Is any login recorded as pending (parsed or not)? One store read, nothing validated. */
  any(): boolean {
    try {
      return Object.keys(this.store.read().pending_logins).length > 0;
    } catch {
      return true;
    }
  }

  list(): ResumableLogin[] {
    const records: ResumableLogin[] = [];
    for (const raw of Object.values(this.store.read().pending_logins)) {
      const parsed = ResumableLoginSchema.safeParse(raw);
      if (!parsed.success) continue;
      rememberSecret(parsed.data.verifier, parsed.data.cookie?.value);
      records.push(parsed.data);
    }
    return records;
  }

  get(origin: string): ResumableLogin | undefined {
    return this.list().find((record) => record.origin === origin);
  }

  /** Records the login as this process's. A courtesy like the login record: a store that cannot be written does not stop the login. */
  async put(record: NewResumableLogin): Promise<void> {
    rememberSecret(record.verifier);
    const entry: ResumableLogin = { ...record, ...currentOwner() };
    await this.store.update((data) => {
      data.pending_logins[record.origin] = entry;
    });
  }

  /** Makes this process the owner of a login it took over (only if the record is still the one it read). */
  claim(record: ResumableLogin): Promise<boolean> {
    return this.store.update((data) => {
      const current = ResumableLoginSchema.safeParse(data.pending_logins[record.origin]);
      if (!current.success || current.data.state !== record.state) return false;
      data.pending_logins[record.origin] = { ...current.data, ...currentOwner() };
      return true;
    });
  }

  /** Records the start cookie of this login (see CallbackListener.startLoaded). */
  setCookie(origin: string, state: string, cookie: { name: string; value: string }): Promise<void> {
    rememberSecret(cookie.value);
    return this.store.update((data) => {
      const current = data.pending_logins[origin] as { state?: unknown } | undefined;
      if (current?.state === state) data.pending_logins[origin] = { ...current, cookie };
    });
  }

  /** Deletes the origin's record; with `state`, only if it is still that login's. */
  delete(origin: string, state?: string): Promise<boolean> {
    return this.store.update((data) => {
      const current = data.pending_logins[origin] as { state?: unknown } | undefined;
      if (!current || (state !== undefined && current.state !== state)) return false;
      delete data.pending_logins[origin];
      return true;
    });
  }
}
