import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startChild, stopChild } from './processes.js';
import { ROOT } from './workspace.js';

export interface RunningEmulator {
  appUrl: string;
  teamUrl: string;
  stop(): Promise<void>;
}

/** The built emulator in its own process, on loopback with ephemeral ports and auto-approval. */
export async function startEmulatorProcess(timeoutMs = 20_000): Promise<RunningEmulator> {
  const child = startChild(process.execPath, [join(ROOT, 'dist', 'index.js'), 'emulator', '--auto', '--quiet'], { cwd: ROOT });
  try {
    const urls = await readUrls(child, timeoutMs);
    return { ...urls, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** The banner names the app and the team domain; the emulator is ready once it is printed. */
function readUrls(child: ChildProcess, timeoutMs: number): Promise<{ appUrl: string; teamUrl: string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the emulator printed no URLs within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the emulator exited (${code}) before it was ready:\n${out}`));
    });
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const app = /protected app\s*:\s*(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const team = /team domain\s*:\s*(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (app && team) {
        clearTimeout(timer);
        resolve({ appUrl: app, teamUrl: team });
      }
    });
  });
}
