import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { LoginHooks } from '../service/access-service.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * Login hooks for one tool call: cancellation from the client, progress
 * notifications when the request carried a progress token.
 */
export function loginHooks(extra: ToolExtra): LoginHooks {
  const token = extra._meta?.progressToken;
  let loginUrl: string | undefined;
  return {
    signal: extra.signal,
    onLoginUrl: (login) => {
      loginUrl = login.authorizationUrl;
    },
    onTick:
      token === undefined
        ? undefined
        : (elapsed, total) => {
            extra
              .sendNotification({
                method: 'notifications/progress',
                params: {
                  progressToken: token,
                  progress: elapsed,
                  total,
                  message: `Waiting for the browser login (${elapsed}s of ${total}s)${loginUrl ? `: ${loginUrl}` : ''}`,
                },
              })
              .catch(() => {});
          },
  };
}
