import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { LoginInProgress as PendingLogin } from '../auth/login-method.js';
import { appLabel } from '../auth/app-key.js';

/** Pending logins already shown to the user through elicitation, per connected server. */
const shown = new WeakMap<McpServer, Set<string>>();

/** True when the connected client declared URL-mode elicitation (`capabilities.elicitation.url`). */
export function supportsUrlElicitation(server: McpServer): boolean {
  return Boolean(server.server.getClientCapabilities()?.elicitation?.url);
}

/** True when the connected client declared form-mode elicitation (`capabilities.elicitation.form`). */
export function supportsFormElicitation(server: McpServer): boolean {
  return Boolean(server.server.getClientCapabilities()?.elicitation?.form);
}

function messageFor(login: PendingLogin): string {
  const host = appLabel(login.key);
  if (login.browser.refused === 'untrusted_team' && login.browser.team) {
    return `Sign in to ${host} so your agent can reach it. Its sign-in page is on the Access team ${login.browser.team}, which you have not used before: open this link only if you expect that team.`;
  }
  return login.browser.opened
    ? `Sign in to ${host} so your agent can reach it. A browser tab was opened for this; if you do not see it, open this link.`
    : `Sign in to ${host} so your agent can reach it: open this link in your browser.`;
}

/** Marks a login as shown on this connection; false if it already was. Forgotten when the login ends. */
function firstShowing(server: McpServer, login: PendingLogin): boolean {
  let seen = shown.get(server);
  if (!seen) shown.set(server, (seen = new Set()));
  if (seen.has(login.authorizationUrl)) return false;
  seen.add(login.authorizationUrl);
  const key = login.authorizationUrl;
  login.done
    .catch(() => undefined)
    .then(() => seen.delete(key));
  return true;
}

/**
 * The page of a team the user has not used before was not opened. A client
 * with form elicitation only (Claude Code) is asked "Open the sign-in page of
 * team X for <host>?": accept opens it and remembers the team, decline leaves
 * the link in the result. Returns false when the client cannot ask.
 */
function confirmTeam(server: McpServer, login: PendingLogin, relatedRequestId?: RequestId): boolean {
  if (!login.confirmTeam || !supportsFormElicitation(server)) return false;
  if (!firstShowing(server, login)) return true;
  const host = appLabel(login.key);
  const team = login.browser.team ?? 'an unknown team';
  const confirm = login.confirmTeam;
  server.server
    .elicitInput(
      {
        mode: 'form',
        message:
          `Open the sign-in page of team ${team} for ${host}? You have not signed in through ${team} before; ` +
          `any site can name any Access team, so accept only if you expect ${host} to use it. Accepting also trusts ${team} for later sign-ins.`,
        requestedSchema: { type: 'object', properties: {} },
      },
      { timeout: Math.max(1_000, login.expiresAt - Date.now()), relatedRequestId },
    )
    .then(async (answer) => {
      if (answer.action === 'accept') await confirm();
    })
    .catch(() => {
      // Declined, cancelled, timed out or disconnected: the login keeps waiting for the link to be used.
    });
  return true;
}

/**
 * Asks the client to show the login URL to the user (URL-mode elicitation),
 * once per pending login, and sends `notifications/elicitation/complete` when
 * that login is over (signed in, denied or expired). It does not wait for the
 * user's answer: the tool call keeps waiting for the login itself, which is
 * what decides the result. Returns false when the client cannot show it.
 */
export function elicitLogin(server: McpServer, login: PendingLogin, relatedRequestId?: RequestId): boolean {
  // A client that can show a URL asks the user before opening it, which is the confirmation an untrusted team needs.
  if (!supportsUrlElicitation(server)) return confirmTeam(server, login, relatedRequestId);
  if (!firstShowing(server, login)) return true;

  const elicitationId = randomUUID();
  const notifyComplete = server.server.createElicitationCompletionNotifier(elicitationId);
  server.server
    .elicitInput(
      { mode: 'url', elicitationId, url: login.authorizationUrl, message: messageFor(login) },
      // The user may take minutes; the login itself decides when waiting is over.
      { timeout: Math.max(1_000, login.expiresAt - Date.now()), relatedRequestId },
    )
    .catch(() => {
      // Declined, cancelled, timed out or disconnected: the login keeps waiting either way.
    });
  login.done
    .catch(() => undefined)
    .then(() => {
      if (server.isConnected()) notifyComplete().catch(() => {});
    });
  return true;
}
