import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { PendingLogin } from '../auth/oauth-login.js';

/** Pending logins already shown to the user through elicitation, per connected server. */
const shown = new WeakMap<McpServer, Set<string>>();

/** True when the connected client declared URL-mode elicitation (`capabilities.elicitation.url`). */
export function supportsUrlElicitation(server: McpServer): boolean {
  return Boolean(server.server.getClientCapabilities()?.elicitation?.url);
}

function messageFor(login: PendingLogin): string {
  const host = new URL(login.origin).host;
  return login.browser.opened
    ? `Sign in to ${host} so your agent can reach it. A browser tab was opened for this; if you do not see it, open this link.`
    : `Sign in to ${host} so your agent can reach it: open this link in your browser.`;
}

/**
 * Asks the client to show the login URL to the user (URL-mode elicitation),
 * once per pending login, and sends `notifications/elicitation/complete` when
 * that login is over (signed in, denied or expired). It does not wait for the
 * user's answer: the tool call keeps waiting for the login itself, which is
 * what decides the result. Returns false when the client cannot show it.
 */
export function elicitLogin(server: McpServer, login: PendingLogin, relatedRequestId?: RequestId): boolean {
  if (!supportsUrlElicitation(server)) return false;
  let seen = shown.get(server);
  if (!seen) shown.set(server, (seen = new Set()));
  if (seen.has(login.authorizationUrl)) return true;
  seen.add(login.authorizationUrl);

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
      seen.delete(login.authorizationUrl);
      if (server.isConnected()) notifyComplete().catch(() => {});
    });
  return true;
}
