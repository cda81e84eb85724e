import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { textOf } from '../helpers/harness.js';
import { Hostile } from '../helpers/hostile-site.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * A hostile (or broken) site on the way to a login: the documents a login
 * reads before any browser opens (resource metadata, authorization server
 * metadata, registration) are bounded by the total deadline like any
 * request, so a body trickling in a byte at a time (never idle long enough
 * for the per-chunk timeout) cannot hold a tool call open.
 */

const suite = e2eSuite();

/** Answers 200 and then sends a space every 200 ms for as long as the client listens. */
function trickle(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const timer = setInterval(() => res.write(' '), 200);
  res.on('close', () => clearInterval(timer));
}

describe('a login document that trickles in for ever', () => {
  for (const path of ['/.well-known/cloudflare-access-protected-resource/', '/.well-known/oauth-authorization-server', '/register']) {
    it(`${path}: access_fetch ends with the deadline and a next step; the server keeps answering`, async () => {
      const site = suite.track(await Hostile.start());
      site.routes.set(path, (_req, res) => trickle(res));
      const server = await suite.server({ env: { CF_ACCESS_MCP_DEADLINE_MS: '1500', CF_ACCESS_MCP_TEAMS: new URL(site.origin).host } });
      const result = await server.call('access_fetch', { url: site.url, wait_seconds: 5 }, { timeoutMs: 60_000 });
      const text = textOf(result);
      assert.equal(result.isError, true, text);
      assert.match(text, /did not finish within 1\.5 s \(the total deadline, CF_ACCESS_MCP_DEADLINE_MS\)/);
      assert.match(text, /Next step: \S/);
      assert.equal(server.browserArgv().length, 0, 'no browser opened');
      assert.notEqual((await server.call('access_status', {})).isError, true);
    });
  }
});
