import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import { handleAdmin } from './admin.js';
import { handleApp, handleAppUpgrade } from './app-server.js';
import { classicKeys, issueClassicJwt, verifyClassicJwt } from './classic.js';
import { FaultSwitch } from './faults.js';
import { endMcpSessions } from './mcp-server.js';
import { resolveOptions } from './options.js';
import { handlePlain } from './plain-server.js';
import { allApps, type ProtectedApp, type Runtime } from './runtime.js';
import { closeServer, listen, originListener } from './server-host.js';
import { AuthState } from './state.js';
import { handleTeam } from './team-server.js';
import type { Emulator, EmulatorOptions, OriginName } from './types.js';

export type {
  AccessMode,
  ApprovalMode,
  Emulator,
  EmulatorLiveOptions,
  EmulatorOptions,
  Fault,
  FaultEndpoint,
  FaultKind,
  LogEntry,
  OriginName,
  Revocation,
  ServiceToken,
} from './types.js';
export { runEmulatorCli, type EmulatorCliOptions } from './cli.js';
export { REPORT_SENTENCE } from './pages.js';

function newAud(): string {
  return randomBytes(32).toString('hex');
}

/** Starts the four origins (app, app2, plain, team) on their own ports. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const live = resolveOptions(options);
  const keys = await classicKeys();
  const hostInUrl = live.host.includes(':') ? `[${live.host}]` : live.host;

  // Listeners are attached once the ports (and so the URLs) are known; until then, 503.
  const listeners: Partial<Record<OriginName, RequestListener>> = {};
  const serverFor = (origin: OriginName): Server =>
    createServer((req, res) => {
      const listener = listeners[origin];
      if (listener) return listener(req, res);
      res.writeHead(503).end();
    });
  const servers = { app: serverFor('app'), app2: serverFor('app2'), plain: serverFor('plain'), team: serverFor('team') };
  const all: Server[] = Object.values(servers);
  const ports = { app: 0, app2: 0, plain: 0, team: 0 };
  try {
    ports.app = await listen(servers.app, live.host, live.appPort);
    ports.app2 = await listen(servers.app2, live.host, live.app2Port);
    ports.plain = await listen(servers.plain, live.host, live.plainPort);
    ports.team = await listen(servers.team, live.host, live.teamPort);
  } catch (err) {
    await Promise.all(all.map(closeServer));
    throw err;
  }
  Object.assign(live, { appPort: ports.app, app2Port: ports.app2, plainPort: ports.plain, teamPort: ports.team });

  const hostOf = (port: number): string => `${hostInUrl}:${port}`;
  const protectedApp = (name: string, port: number, path = ''): ProtectedApp => ({
    name,
    url: `http://${hostOf(port)}`,
    host: hostOf(port),
    path,
    resource: `http://${hostOf(port)}${path}`,
    aud: newAud(),
  });
  const paths = live.pathApps.map((p) => '/' + p.replace(/^\/+|\/+$/g, '')).filter((p) => p !== '/');
  const closing = new AbortController();
  // Every in-flight request listens for close(); a benchmark can have hundreds at once.
  setMaxListeners(0, closing.signal);
  const rt: Runtime = {
    options: live,
    apps: { app: protectedApp('app', ports.app), app2: protectedApp('app2', ports.app2) },
    pathApps: paths.map((path) => protectedApp(path, ports.app, path)),
    plainUrl: `http://${hostOf(ports.plain)}`,
    teamUrl: `http://${hostOf(ports.team)}`,
    teamHost: hostOf(ports.team),
    state: new AuthState(),
    keys,
    faults: new FaultSwitch(),
    log: [],
    revocations: [],
    closing: closing.signal,
  };

  let closed: Promise<void> | undefined;
  const emulator: Emulator = {
    appUrl: rt.apps.app.url,
    app2Url: rt.apps.app2.url,
    plainUrl: rt.plainUrl,
    teamUrl: rt.teamUrl,
    aud: { app: rt.apps.app.aud, app2: rt.apps.app2.aud },
    applications: allApps(rt).map((app) => ({ name: app.name, resource: app.resource, aud: app.aud })),
    options: live,
    log: rt.log,
    revocations: rt.revocations,
    clearLog: () => {
      rt.log.length = 0;
    },
    requests: (filter = {}) =>
      rt.log.filter(
        (e) =>
          (filter.origin === undefined || e.origin === filter.origin) &&
          (filter.endpoint === undefined || e.endpoint === filter.endpoint),
      ),
    expireAccessTokens: () => rt.state.expireAccessTokens(),
    revokeAllTokens: () => rt.state.revokeAll(),
    revokeRefreshTokens: () => rt.state.revokeAll('refresh'),
    isTokenActive: (token) => rt.state.activeToken(token) !== undefined || allApps(rt).some((app) => verifyClassicJwt(rt, token, app)),
    forgetRegistrations: () => rt.state.forgetClients(),
    endMcpSessions: () => endMcpSessions(rt),
    clients: () =>
      [...rt.state.clients.values()].map((c) => ({ client_id: c.client_id, redirect_uris: [...c.redirect_uris] })),
    setFault: (fault) => rt.faults.set(fault),
    secrets: () => [...rt.state.secrets(), ...live.serviceTokens.map((t) => t.clientSecret)],
    issueClassicJwt: (opts = {}) =>
      issueClassicJwt(rt, allApps(rt).find((app) => app.name === (opts.app ?? 'app')) ?? rt.apps.app, opts.lifetimeSeconds ?? live.jwtLifetimeSeconds),
    close: () => {
      closed ??= (async () => {
        closing.abort();
        await Promise.all(all.map(closeServer));
      })();
      return closed;
    },
  };

  listeners.app = originListener(rt, 'app', rt.apps.app.url, (ctx) => handleApp(ctx, rt.apps.app));
  listeners.app2 = originListener(rt, 'app2', rt.apps.app2.url, (ctx) => handleApp(ctx, rt.apps.app2));
  servers.app.on('upgrade', (req, socket, head) => handleAppUpgrade(rt, rt.apps.app, req, socket, head));
  servers.app2.on('upgrade', (req, socket, head) => handleAppUpgrade(rt, rt.apps.app2, req, socket, head));
  listeners.plain = originListener(rt, 'plain', rt.plainUrl, handlePlain);
  listeners.team = originListener(rt, 'team', rt.teamUrl, (ctx) =>
    handleTeam(ctx, (adminCtx) => handleAdmin(adminCtx, emulator)),
  );
  return emulator;
}
