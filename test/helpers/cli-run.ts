import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { BROWSER_SCRIPT, SERVER_ENTRY, tempHome, trustedTeamsEnv } from './harness.js';
import { recordOutput } from './leaks.js';

/** The built CLI as a child process, its stdout kept as bytes (a pipe, as in `fetch … > file`). */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** A store of its own and the scripted browser: approve, ignore (the login stays pending) or none (no browser). */
export function cliEnv(home: string, browser: 'approve' | 'ignore' | 'none', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CF_ACCESS_MCP_HOME: home,
    CF_ACCESS_MCP_CALLBACK_PORT: '0',
    CF_ACCESS_MCP_BROWSER: browser === 'none' ? 'none' : `${process.execPath} ${BROWSER_SCRIPT}`,
    TEST_BROWSER_ACTION: browser === 'none' ? 'approve' : browser,
    TEST_BROWSER_LOG: join(tempHome('cfam-cli-browser-'), 'browser.log'),
    ...trustedTeamsEnv(),
    ...extra,
  };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [SERVER_ENTRY, ...args], { env, stdio: 'pipe', ...(cwd ? { cwd } : {}) });
}

export function finishCli(child: ChildProcessWithoutNullStreams, input = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const stdout = Buffer.concat(out);
      recordOutput('cli stdout', stdout.toString('utf8'));
      recordOutput('cli stderr', stderr);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** `cwd`: the directory it runs in (a project, for `install --scope project`). */
export function runCli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliRun> {
  return finishCli(startCli(args, env, cwd));
}

/** `runCli` with stdout as text. */
export async function runCliText(args: string[], env: NodeJS.ProcessEnv): Promise<Omit<CliRun, 'stdout'> & { stdout: string }> {
  const run = await runCli(args, env);
  return { ...run, stdout: run.stdout.toString('utf8') };
}
