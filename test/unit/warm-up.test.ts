import assert from 'node:assert/strict';
import { readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { conversionsRequested } from '../../src/http/convert-pool.js';
import { warmAccessFetch } from '../../src/mcp/tools/access-fetch.js';
import { AccessService } from '../../src/service/access-service.js';
import { loadConfig } from '../../src/service/config.js';
import type { FetchResult } from '../../src/service/results.js';
import { FETCH_ROUNDS, warmUp } from '../../src/service/warm-up.js';
import { cleanupHomes, tempHome } from '../helpers/harness.js';

/**
 * Issue 16, warm start: the idle warm-up runs a call's whole path (the fetch
 * flow, undici, the converter, the MCP rendering) on a page the process
 * serves itself, and leaves nothing behind that a caller could notice: no
 * store write, no store warning taken from the first result, no conversion
 * counted as a caller's, nothing through a proxy, no credential sent.
 */

after(cleanupHomes);
const home = () => tempHome('cfam-warm-');

async function service(env: Record<string, string>, run: (svc: AccessService) => Promise<void>): Promise<void> {
  const svc = new AccessService(loadConfig(env), () => {});
  try {
    await run(svc);
  } finally {
    await svc.close();
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** An origin on loopback that holds each request until told to answer. */
async function slowOrigin(): Promise<{ server: Server; url: string; requested: Promise<void>; answer: () => void }> {
  let respond: () => void = () => {};
  let arrived: () => void = () => {};
  const requested = new Promise<void>((resolve) => (arrived = resolve));
  const server = createServer((_req, res) => {
    respond = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('late');
    arrived();
  });
  const port = await listen(server);
  return { server, url: `http://127.0.0.1:${port}/slow`, requested, answer: () => respond() };
}

/** The collections forced by gc() while `run` ran, by kind. */
async function forcedCollections(run: () => Promise<void>): Promise<{ major: number; minor: number }> {
  const collections: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => collections.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  await run();
  await sleep(50);
  observer.disconnect();
  const forced = collections
    .map((entry) => (entry as PerformanceEntry & { detail?: { kind: number; flags: number } }).detail)
    .filter((detail) => detail !== undefined && (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0);
  return {
    major: forced.filter((detail) => detail!.kind === constants.NODE_PERFORMANCE_GC_MAJOR).length,
    minor: forced.filter((detail) => detail!.kind === constants.NODE_PERFORMANCE_GC_MINOR).length,
  };
}

describe('idle warm-up', () => {
  it('fetches and renders its own page through the real path, and leaves the store, its warnings and the conversion count alone', async () => {
    const dir = home();
    // A planted store file: the store refuses it, and the first real result must still say so.
    writeFileSync(join(dir, 'elsewhere.json'), '{}');
    symlinkSync(join(dir, 'elsewhere.json'), join(dir, 'store.json'));
    const filesBefore = readdirSync(dir).sort();
    const requestedBefore = conversionsRequested();
    await service({ CF_ACCESS_MCP_HOME: dir }, async (svc) => {
      const warningsBefore = [...svc.store.warnings];
      assert.ok(warningsBefore.length > 0, 'the planted store file is warned about');
      let fetched: FetchResult | undefined;
      let rounds = 0;
      const forced = await forcedCollections(() =>
        warmUp(svc, {
          fetched: async (result) => {
            fetched = result;
            rounds++;
            await warmAccessFetch(result);
          },
        }),
      );
      assert.equal(rounds, FETCH_ROUNDS, 'every round of the fetch path while nobody waits');
      assert.deepEqual(forced, { major: 1, minor: 2 }, 'at idle, one full collection before the rounds and two young-generation ones after them');
      assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'gc() is not left to anyone');
      assert.equal(runInNewContext('typeof gc'), 'undefined', 'nor to a context made later (the flag was restored)');
      assert.ok(fetched, 'the warm-up page went through the fetch flow');
      assert.equal(fetched.status, 200);
      assert.equal(fetched.auth, 'none', 'no credential was sent');
      assert.match(fetched.text, /^# Warm-up/m, 'converted to Markdown');
      assert.match(fetched.text, /\| Parameter \| Type \|/, 'tables kept');
      assert.deepEqual(fetched.warnings, [], 'no store warning was taken for the warm-up page');
      assert.deepEqual(svc.takeStoreWarnings(), warningsBefore, 'the first real result still gets the store warnings');
    });
    assert.equal(conversionsRequested(), requestedBefore, 'the warm-up conversions are not counted as callers\'');
    assert.deepEqual(readdirSync(dir).sort(), filesBefore, 'nothing written to the store directory');
  });

  it('goes to its own listener directly even when a proxy is configured', { timeout: 60_000 }, async () => {
    let proxied = 0;
    const proxy = createServer((_req, res) => {
      proxied++;
      res.writeHead(502, { connection: 'close' }).end();
    });
    proxy.on('connect', (_req, socket) => {
      proxied++;
      socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
    });
    const port = await listen(proxy);
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTP_PROXY = `http://127.0.0.1:${port}`;
    delete process.env.NO_PROXY;
    try {
      await service({ CF_ACCESS_MCP_HOME: home(), HTTP_PROXY: process.env.HTTP_PROXY }, async (svc) => {
        let status: number | undefined;
        await warmUp(svc, { fetched: (result) => void (status = result.status) });
        assert.equal(status, 200, 'the warm-up page was fetched');
      });
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      proxy.closeAllConnections();
      proxy.close();
    }
    assert.equal(proxied, 0, 'nothing went to the proxy');
  });

  it('sends nothing when the user configured a credential for its address', async () => {
    const env = {
      CF_ACCESS_MCP_HOME: home(),
      CF_ACCESS_CLIENT_ID: 'warm-up-test-id.access',
      CF_ACCESS_CLIENT_SECRET: 'warm-up-test-secret-0123456789abcdef',
      CF_ACCESS_SERVICE_TOKEN_HOSTS: '127.0.0.1',
    };
    await service(env, async (svc) => {
      let fetched = false;
      await warmUp(svc, { fetched: () => void (fetched = true) });
      assert.equal(fetched, false, 'the warm-up page was not requested with the service token');
    });
  });

  it('collects no garbage and fetches no second round while a call is under way', async () => {
    // An origin that answers only once the warm-up is over: the call waits all through it.
    const slow = await slowOrigin();
    try {
      await service({ CF_ACCESS_MCP_HOME: home() }, async (svc) => {
        const call = svc.fetch({ url: slow.url, format: 'raw' });
        await slow.requested;
        assert.equal(svc.callsInFlight, 1);
        let rounds = 0;
        assert.deepEqual(await forcedCollections(() => warmUp(svc, { fetched: () => void rounds++ })), { major: 0, minor: 0 });
        assert.equal(rounds, 1, 'one round, and none after it while the call waits');
        slow.answer();
        assert.equal((await call).text, 'late');
        assert.equal(svc.callsInFlight, 0);
      });
    } finally {
      slow.server.close();
    }
  });

  it('stops between rounds once a call comes, and leaves the young generation alone while it runs', async () => {
    const slow = await slowOrigin();
    try {
      await service({ CF_ACCESS_MCP_HOME: home() }, async (svc) => {
        let rounds = 0;
        let call: Promise<unknown> | undefined;
        const forced = await forcedCollections(() =>
          warmUp(svc, {
            fetched: () => {
              // A call comes while the second round's result is being rendered.
              if (++rounds === 2) call = svc.fetch({ url: slow.url, format: 'raw' });
            },
          }),
        );
        assert.equal(rounds, 2, 'no round after the call came');
        assert.equal(svc.callsInFlight, 1, 'the call was still waiting when the warm-up ended');
        assert.deepEqual(forced, { major: 1, minor: 0 }, 'the full collection before the call; none while it waits');
        await slow.requested;
        slow.answer();
        await call;
      });
    } finally {
      slow.server.close();
    }
  });
  it('stands aside for a call only the MCP layer sees (the busy hook): one round, no collection', async () => {
    await service({ CF_ACCESS_MCP_HOME: home() }, async (svc) => {
      let rounds = 0;
      const forced = await forcedCollections(() => warmUp(svc, { fetched: () => void rounds++, busy: () => true }));
      assert.equal(svc.callsInFlight, 0, 'the service itself sees no call');
      assert.equal(rounds, 1, 'the round begun regardless, and no more');
      assert.deepEqual(forced, { major: 0, minor: 0 });
    });
  });
});
