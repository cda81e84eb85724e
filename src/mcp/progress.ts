import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { redactSecrets } from '../core/redact.js';
import type { LoginHooks } from '../service/access-service.js';
import { elicitLogin } from './elicitation.js';
import { appLabel } from '../auth/app-key.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * Login hooks for one tool call: cancellation from the client; progress
 * notifications (strictly increasing) when the request carried a progress
 * token; URL-mode elicitation of the login page when the client supports it.
 */
export function loginHooks(extra: ToolExtra, server?: McpServer): LoginHooks {
  const token = extra._meta?.progressToken;
  let loginUrl: string | undefined;
  let host = 'the site';
  let last = -1;
  // A call may wait for more than one login (a redirect to another protected
  // origin); later waits continue the count instead of starting again at 0.
  let base = 0;

  const notify = (progress: number, total: number | undefined, message: string) => {
    if (token === undefined || progress <= last) return;
    last = progress;
    extra
      .sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total, message: redactSecrets(message) } })
      .catch(() => {});
  };

  return {
    signal: extra.signal,
    onLoginUrl: (login) => {
      loginUrl = login.authorizationUrl;
      host = appLabel(login.key);
      base = last + 1;
      if (server) elicitLogin(server, login, extra.requestId);
      notify(base, undefined, `Waiting for the browser login to ${host}: ${loginUrl}`);
    },
    onTick:
      token === undefined
        ? undefined
        : (elapsed, total) =>
            notify(base + elapsed, base + total, `Waiting for the browser login to ${host} (${elapsed}s of ${total}s)${loginUrl ? `: ${loginUrl}` : ''}`),
  };
}
