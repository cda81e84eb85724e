import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BROWSER_SCRIPT, SERVER_ENTRY, tempHome, trustedTeamsEnv } from './harness.js';
import { recordOutput } from './leaks.js';

/** The environment of a CLI child: a fresh store, the scripted browser, trusted emulator teams, no inherited CF_ACCESS_* or proxy settings. */
export function bridgeEnv(options: { home?: string; browser?: 'approve' | 'ignore'; env?: Record<string, string> } = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(https?_proxy|no_proxy|all_proxy)$/i.test(name) || /^CF_ACCESS_/.test(name)) continue;
    env[name] = value;
  }
  const browserLog = join(tempHome('cfam-bridge-browser-'), 'browser.log');
  return {
    ...env,
    CF_ACCESS_MCP_HOME: options.home ?? tempHome(),
    CF_ACCESS_MCP_CALLBACK_PORT: '0',
    CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER_SCRIPT}`,
    TEST_BROWSER_LOG: browserLog,
    TEST_BROWSER_JAR: join(dirname(browserLog), 'cookies.json'),
    TEST_BROWSER_ACTION: options.browser ?? 'approve',
    ...trustedTeamsEnv(),
    ...options.env,
  };
}

/** Pages the scripted browser of `env` opened. */
export function browserOpens(env: Record<string, string>): string[] {
  try {
    return readFileSync(env.TEST_BROWSER_LOG!, 'utf8').split('\n').filter((l) => l.startsWith('open '));
  } catch {
    return [];
  }
}

export interface ProxyChild {
  base: string;
  child: ChildProcess;
  stderr: string[];
  stop(): Promise<void>;
}

/** `cf-access-mcp proxy <url> …` as a child process; resolves once it printed its base URL. */
export async function startProxyCli(url: string, env: Record<string, string>, args: string[] = []): Promise<ProxyChild> {
  const child = spawn(process.execPath, [SERVER_ENTRY, 'proxy', url, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString());
    recordOutput('proxy stderr', chunk.toString());
  });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      recordOutput('proxy stdout', chunk.toString());
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`proxy exited with ${code}: ${stderr.join('')}`)));
  });
  return {
    base,
    child,
    stderr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a real program (curl, git) without blocking the event loop the emulator runs on; records its output for the leak check. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) => {
      const result = { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      recordOutput(`${command} output`, result.stdout + result.stderr);
      resolve(result);
    });
  });
}

/** Minor page faults a process has taken so far (Linux /proc): memory it was given afresh by the kernel, page by page. */
export function minorFaultsOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[7] ?? NaN);
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}
