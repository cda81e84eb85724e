import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { killRecordedPids } from './processes.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const SERVER_ENTRY = join(ROOT, 'dist', 'index.js');
const BROWSER_SCRIPT = join(ROOT, 'test', 'fixtures', 'browser.mjs');

/** One case's scratch space: an isolated HOME, a project dir, the server's store and the server wrapper. */
export interface Workspace {
  dir: string;
  home: string;
  project: string;
  /** Executable that starts the MCP server with this case's environment; give it to the client as the server command. */
  serverCommand: string;
  pidFile: string;
  browserLog: string;
}

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * Clients hand the server a reduced environment, so the server's settings go into the
 * command itself. The wrapper records its PID (exec keeps it) so that a server a client
 * leaves behind can be killed.
 */
function serverWrapper(ws: Omit<Workspace, 'serverCommand'>, browser: 'approve' | 'none', trustedTeam: string): string {
  const env: Record<string, string> = {
    CF_ACCESS_MCP_HOME: join(ws.dir, 'store'),
    CF_ACCESS_MCP_CALLBACK_PORT: '0',
    CF_ACCESS_MCP_BROWSER: browser === 'none' ? 'none' : `${process.execPath} ${BROWSER_SCRIPT}`,
    TEST_BROWSER_LOG: ws.browserLog,
    TEST_BROWSER_ACTION: 'approve',
    // The emulator's team is one the user trusts, as a real user's own team would be.
    CF_ACCESS_MCP_TEAMS: trustedTeam,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`).join(' ');
  return [
    '#!/bin/sh',
    `echo $$ >> ${quote(ws.pidFile)}`,
    `cd ${quote(ROOT)} || exit 127`,
    `exec env ${assignments} ${quote(process.execPath)} ${quote(SERVER_ENTRY)}`,
    '',
  ].join('\n');
}

export function createWorkspace(runDir: string, name: string, browser: 'approve' | 'none', trustedTeam: string): Workspace {
  const dir = mkdtempSync(join(runDir, `${name}-`));
  const base = { dir, home: join(dir, 'home'), project: join(dir, 'project'), pidFile: join(dir, 'server.pids'), browserLog: join(dir, 'browser.log') };
  for (const sub of [base.home, base.project, join(dir, 'store'), join(dir, 'tmp')]) mkdirSync(sub, { recursive: true });
  const serverCommand = join(dir, 'server.sh');
  writeFileSync(serverCommand, serverWrapper(base, browser, trustedTeam));
  chmodSync(serverCommand, 0o755);
  return { ...base, serverCommand };
}

export function disposeWorkspace(ws: Workspace, keep: boolean): void {
  killRecordedPids(ws.pidFile);
  if (!keep) rmSync(ws.dir, { recursive: true, force: true });
}

export function createRunDir(): string {
  return mkdtempSync(join(tmpdir(), 'cf-access-mcp-clients-'));
}

/**
 * An `env -i`-like environment for a client: none of the caller's keys, proxies or
 * settings, HOME and XDG_* inside the workspace. PATH is kept for `node` and `sh`.
 */
export function isolatedEnv(ws: Workspace, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: ws.home,
    USER: 'clienttest',
    TERM: 'dumb',
    NO_COLOR: '1',
    LANG: 'C.UTF-8',
    XDG_CONFIG_HOME: join(ws.home, '.config'),
    XDG_DATA_HOME: join(ws.home, '.local', 'share'),
    XDG_CACHE_HOME: join(ws.home, '.cache'),
    XDG_STATE_HOME: join(ws.home, '.local', 'state'),
    TMPDIR: join(ws.dir, 'tmp'),
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    ...extra,
  };
}
