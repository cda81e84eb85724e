import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PendingLoginResult } from '../service/pending.js';
import type { AccessService } from '../service/access-service.js';
import { appLabel } from '../auth/app-key.js';
import { EXIT } from './exit-codes.js';
import { openSession } from './session.js';

/** The internal command a detached process runs; not listed in the usage. */
export const FINISH_LOGIN_COMMAND = '__finish-login';

const POLL_MS = 250;
/** How long the background process waits for the command that started it to let go of the login. */
const HANDOVER_MS = 30_000;

/**
 * `--detach`: a background cf-access-mcp process that takes over the pending
 * login (from the store, once this process has exited and released it),
 * keeps listening for the browser's callback, stores the session and exits.
 */
export function detachLogin(origin: string): number | undefined {
  const entry = fileURLToPath(new URL('../index.js', import.meta.url));
  const child = spawn(process.execPath, [entry, FINISH_LOGIN_COMMAND, origin], { detached: true, stdio: 'ignore', env: process.env, windowsHide: true });
  child.on('error', () => {});
  child.unref();
  return child.pid;
}

/** A process that keeps listening for the sign-in after this command exits: one it detached, or the one running the login it joined. */
export interface Listener {
  pid: number;
  detached: boolean;
}

/**
 * What the command says when it stops waiting: never that a login keeps waiting unless a process really does, nor that nobody listens when one does.
 * `waitGiven`: the command ran with --wait (only then is "without --wait" advice).
 */
export function stoppedWaitingText(
  pending: Pick<PendingLoginResult, 'host' | 'expires_at'>,
  command: string,
  listener: Listener | undefined,
  interrupted: boolean,
  waitGiven: boolean,
): { message: string; nextStep: string } {
  const stopped = `Login to ${pending.host} not completed${interrupted ? ' (interrupted)' : ' in time'}.`;
  if (listener?.detached) {
    return {
      message: `${stopped} A background cf-access-mcp process (pid ${listener.pid}) took the login over: it keeps listening for the sign-in until ${pending.expires_at}, stores the session and exits.`,
      nextStep: `Finish signing in in the browser; afterwards "cf-access-mcp status" shows the session and "${command}" uses it.`,
    };
  }
  if (listener) {
    // Which kind of process that is, and so how long it listens, is not known here: an MCP server or a detached
    // login keeps listening until the login expires, a login or fetch with --wait only until its own wait ends.
    return {
      message: `${stopped} The login is run by another cf-access-mcp process (pid ${listener.pid}), and finishing the sign-in at the link above completes it only while that process listens: an MCP server or a background login (--detach) keeps listening until ${pending.expires_at}, a login or fetch in another terminal only while it waits.`,
      nextStep: `Finish signing in in the browser; afterwards "cf-access-mcp status" shows the session and "${command}" uses it. If the browser ends on a page that cannot be reached, that process had stopped listening: run "${command}" again${waitGiven ? ' without --wait' : ''} and finish signing in while it waits.`,
    };
  }
  return {
    message: `${stopped} The sign-in link works only while a cf-access-mcp process is listening for it, and this one has stopped: finishing the sign-in now leads to a page that does not load.`,
    nextStep: `run "${command}" again${waitGiven ? ' without --wait' : ''} and finish signing in while it waits, or add --detach to leave a background process listening.`,
  };
}

/** The pending result as a CLI prints it after it stopped waiting (JSON mode). */
export function stoppedPendingResult(pending: PendingLoginResult, command: string, listener: Listener | undefined, interrupted: boolean, waitGiven: boolean): PendingLoginResult & { listening: boolean } {
  const text = stoppedWaitingText(pending, command, listener, interrupted, waitGiven);
  return { ...pending, message: text.message, next_step: text.nextStep, listening: listener !== undefined };
}

/** This process's resumable login for the application a pending result names (`application`: its label, as in the result's `host`). */
function ownRecord(service: AccessService, application: string) {
  return service.oauth.resumable.list().find((r) => appLabel(r.origin) === application && r.pid === process.pid);
}

/** This process's part before it exits without handing the login over: nobody will finish it, so the store forgets it. */
export async function abandonPendingLogin(service: AccessService, application: string): Promise<void> {
  const record = ownRecord(service, application);
  if (record) await service.oauth.resumable.delete(record.origin, record.state).catch(() => false);
}

/**
 * The command stopped waiting for a login (of `application`, a pending
 * result's `host`): with `detach`, hand it to a background process (managed
 * OAuth only: its state is in the store); a login another live process runs
 * goes on there; otherwise forget it, since nobody will listen for its
 * callback. Returns the process that keeps listening, if any.
 */
export async function stopWaiting(service: AccessService, application: string, detach: boolean): Promise<Listener | undefined> {
  const record = ownRecord(service, application);
  if (detach && record) {
    const pid = detachLogin(record.origin);
    if (pid !== undefined) return { pid, detached: true };
  }
  await abandonPendingLogin(service, application);
  if (record) return undefined;
  const elsewhere = Object.values(service.store.read().logins).find((login) => appLabel(login.origin) === application && service.oauth.pendingElsewhere(login.origin));
  return elsewhere ? { pid: elsewhere.pid, detached: false } : undefined;
}

/** `__finish-login <origin>`: the detached process. Exit 0 once the session is stored, 3 when the login ends without one. */
export async function runFinishLogin(args: string[]): Promise<number> {
  const origin = args[0];
  if (!origin) return EXIT.usage;
  const session = openSession(false);
  const service = session.service;
  try {
    const handoverUntil = Date.now() + HANDOVER_MS;
    for (;;) {
      const record = service.oauth.resumable.get(origin);
      const ours = service.oauth.pendingFor(origin);
      if (ours) {
        await ours.done;
        return EXIT.ok;
      }
      if (!record) return service.store.getSession(origin) ? EXIT.ok : EXIT.loginIncomplete;
      if (record.expires_at <= Date.now() || Date.now() > handoverUntil) return EXIT.loginIncomplete;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      await service.takeOverLogins();
    }
  } catch {
    return EXIT.loginIncomplete;
  } finally {
    await session.close();
  }
}
