import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DiscoveryCache } from '../../src/auth/discovery-cache.js';
import type { Discovery } from '../../src/auth/oauth-login.js';
import { SessionStore } from '../../src/auth/store.js';
import { PageCache } from '../../src/http/page-cache.js';
import { cleanupHomes, tempHome } from '../helpers/harness.js';

after(cleanupHomes);

const entry = (value: string, application = 'app A', origin = 'https://a.example') => ({ application, origin, value, size: value.length });

describe('PageCache', () => {
  it('serves an entry only to the application it was fetched for', () => {
    const cache = new PageCache<string>({ maxChars: 1000, ttlMs: 60_000 });
    cache.set('k', entry('page'));
    assert.equal(cache.get('k', 'app A'), 'page');
    assert.equal(cache.get('k', 'app B'), undefined);
  });

  it('drops entries past their age', () => {
    const cache = new PageCache<string>({ maxChars: 1000, ttlMs: 100 });
    cache.set('k', entry('page'), 1_000);
    assert.equal(cache.get('k', 'app A', 1_050), 'page');
    assert.equal(cache.get('k', 'app A', 1_101), undefined);
    assert.equal(cache.size, 0);
  });

  it('evicts the least recently used first when over its size, and never holds a page over half of it', () => {
    const cache = new PageCache<string>({ maxChars: 100, ttlMs: 60_000 });
    cache.set('a', entry('a'.repeat(40)));
    cache.set('b', entry('b'.repeat(40)));
    assert.ok(cache.get('a', 'app A')); // a is now the most recently used
    cache.set('c', entry('c'.repeat(40)));
    assert.equal(cache.get('b', 'app A'), undefined);
    assert.ok(cache.get('a', 'app A'));
    assert.ok(cache.get('c', 'app A'));
    cache.set('huge', entry('h'.repeat(60)));
    assert.equal(cache.get('huge', 'app A'), undefined);
  });

  it('clear(origin) drops that origin\'s entries only; clear() drops all', () => {
    const cache = new PageCache<string>({ maxChars: 1000, ttlMs: 60_000 });
    cache.set('a', entry('a', 'app A', 'https://a.example'));
    cache.set('b', entry('b', 'app B', 'https://b.example'));
    cache.clear('https://a.example');
    assert.equal(cache.get('a', 'app A'), undefined);
    assert.equal(cache.get('b', 'app B'), 'b');
    cache.clear();
    assert.equal(cache.size, 0);
  });
});

function metadataOf(origin: string): string {
  return `${origin}/.well-known/oauth-protected-resource`;
}

function discoveryOf(origin: string, at = Date.now()): Discovery {
  return {
    origin,
    app: origin,
    metadataUrl: metadataOf(origin),
    resource: origin,
    resourceMetadata: { resource: origin, authorization_servers: ['https://team.cloudflareaccess.com'] },
    authorizationServer: new URL('https://team.cloudflareaccess.com'),
    server: {
      issuer: 'team.cloudflareaccess.com',
      authorization_endpoint: 'https://team.cloudflareaccess.com/cdn-cgi/access/oauth/authorization',
      token_endpoint: 'https://team.cloudflareaccess.com/cdn-cgi/access/oauth/token',
    },
    at,
  };
}

describe('DiscoveryCache', () => {
  const target = new URL('https://app.example.com/page');

  it('shares one load among concurrent callers and keeps the result', async () => {
    const cache = new DiscoveryCache(new SessionStore(tempHome()));
    let loads = 0;
    const load = async () => {
      loads++;
      await nextTurn();
      return discoveryOf(target.origin);
    };
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.get(metadataOf(target.origin), target, load)));
    assert.equal(loads, 1);
    assert.ok(all.every((d) => d === all[0]));
    await cache.get(metadataOf(target.origin), target, load);
    assert.equal(loads, 1);
  });

  it('a new process (another cache on the same store) uses the stored discovery until its TTL', async () => {
    const home = tempHome();
    const first = new DiscoveryCache(new SessionStore(home));
    await first.get(metadataOf(target.origin), target, async () => discoveryOf(target.origin));
    let loads = 0;
    const load = async () => (loads++, discoveryOf(target.origin));
    const second = new DiscoveryCache(new SessionStore(home));
    const found = await second.get(metadataOf(target.origin), target, load);
    assert.equal(loads, 0);
    assert.equal(found.authorizationServer.href, 'https://team.cloudflareaccess.com/');
    assert.equal(found.server.token_endpoint, 'https://team.cloudflareaccess.com/cdn-cgi/access/oauth/token');
    const expired = new DiscoveryCache(new SessionStore(home), 0);
    await expired.get(metadataOf(target.origin), target, load);
    assert.equal(loads, 1);
  });

  it('the paths of one application (each its own metadata URL) share the server metadata: in flight, in memory, and from the store in a new process', async () => {
    const home = tempHome();
    const cache = new DiscoveryCache(new SessionStore(home));
    const server = discoveryOf(target.origin).server;
    let serverLoads = 0;
    const loadServer = async () => {
      serverLoads++;
      await nextTurn();
      return server;
    };
    const team = new URL('https://team.cloudflareaccess.com');
    const paths = ['/a', '/b', '/c'].map((path) => `${target.origin}/.well-known/cloudflare-access-protected-resource${path}`);
    const found = await Promise.all(
      paths.map((url) => cache.get(url, target, async () => ({ ...discoveryOf(target.origin), metadataUrl: url, server: await cache.server(team, target, loadServer) }))),
    );
    assert.equal(serverLoads, 1, 'one server metadata request for three paths in flight at once');
    assert.ok(found.every((d) => d.server === server));
    await cache.server(team, target, loadServer);
    assert.equal(serverLoads, 1, 'kept in memory');
    const nextStore = new SessionStore(home);
    const next = new DiscoveryCache(nextStore);
    assert.deepEqual(await next.server(team, target, loadServer), server);
    assert.equal(serverLoads, 1, 'a new process takes it from a stored discovery of another path');
    await next.server(team, new URL('https://other.example.com/x'), loadServer);
    assert.equal(serverLoads, 2, 'another application origin discovers for itself');
    const expired = new DiscoveryCache(new SessionStore(home), 0);
    await expired.server(team, target, loadServer);
    assert.equal(serverLoads, 3, 'never past the TTL');
    next.forget(paths[0]!);
    await nextTurn();
    await nextStore.update(() => undefined); // the deletions are queued behind this
    await next.server(team, target, loadServer);
    assert.equal(serverLoads, 4, 'a failed step with a discovery drops the server metadata it used, in memory and in the store');
  });

  it('storing a discovery drops the stored ones past their TTL (the store does not grow with every path ever challenged)', async () => {
    const home = tempHome();
    const store = new SessionStore(home);
    const old = new DiscoveryCache(store);
    await old.get(metadataOf('https://old.example.com'), new URL('https://old.example.com/'), async () => ({ ...discoveryOf('https://old.example.com'), at: Date.now() - 3_600_000 }));
    assert.notEqual(store.getDiscovery(metadataOf('https://old.example.com')), undefined);
    await new DiscoveryCache(store).get(metadataOf(target.origin), target, async () => discoveryOf(target.origin));
    assert.equal(store.getDiscovery(metadataOf('https://old.example.com')), undefined, 'the stale entry is gone');
    assert.notEqual(store.getDiscovery(metadataOf(target.origin)), undefined);
  });

  it('forget() drops it from memory and the store; another origin never gets it', async () => {
    const home = tempHome();
    const store = new SessionStore(home);
    const cache = new DiscoveryCache(store);
    await cache.get(metadataOf(target.origin), target, async () => discoveryOf(target.origin));
    let loads = 0;
    const load = async () => (loads++, discoveryOf('https://other.example.com'));
    await cache.get(metadataOf('https://other.example.com'), new URL('https://other.example.com/'), load);
    assert.equal(loads, 1);
    cache.forget(metadataOf(target.origin));
    await nextTurn();
    await store.update(() => undefined); // the deletion is queued behind this
    assert.equal(store.getDiscovery(metadataOf(target.origin)), undefined);
    await new DiscoveryCache(new SessionStore(home)).get(metadataOf(target.origin), target, load);
    assert.equal(loads, 2);
  });
});
