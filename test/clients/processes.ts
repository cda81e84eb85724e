import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Every process group this run started; all are killed on exit, whatever happens. */
const groups = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function killAllChildren(): void {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  groups.clear();
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

/** Starts a child in its own process group, so that it and whatever it spawns can be killed together. */
export function startChild(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) {
    const pid = child.pid;
    groups.add(pid);
    child.once('exit', () => {
      // The group may outlive its leader (a server the client left behind).
      killGroup(pid, 'SIGKILL');
      groups.delete(pid);
    });
  }
  return child;
}

/** Stops a child's process group: TERM, then KILL after a grace period. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    killGroup(pid, 'SIGTERM');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([exited, timer]);
  }
  killGroup(pid, 'SIGKILL');
  groups.delete(pid);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Runs a command to completion, killed (with its process group) after `timeoutMs`. */
export async function runBounded(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<RunResult> {
  const started = Date.now();
  const child = startChild(command, args, { cwd: options.cwd, env: options.env });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopChild(child);
  }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('error', (error) => {
      stderr += `\n${error.message}`;
      resolve([null, null]);
    });
    child.once('exit', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  // A grandchild (a server the client left running) may still hold the pipes open: give
  // the output a moment to drain, then end the whole group.
  if (child.stdout && !child.stdout.readableEnded) await Promise.race([new Promise((r) => child.once('close', r)), new Promise((r) => setTimeout(r, 2000).unref())]);
  await stopChild(child, 0);
  return { code, signal, stdout, stderr, timedOut, ms: Date.now() - started };
}

/** Kills the MCP servers a client started: the server wrapper writes one PID per start into `pidFile`. */
export function killRecordedPids(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  for (const line of readFileSync(pidFile, 'utf8').split('\n')) {
    const pid = Number(line.trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: the client closed it.
    }
  }
}
