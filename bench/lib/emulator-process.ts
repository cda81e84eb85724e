/**
 * The emulator in its own process (`cf-access-mcp emulator --auto --quiet`), so
 * that serving requests never shares an event loop with the timing client.
 * Its request log is read through the admin API on the team origin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import type { LogEntry } from '../../src/emulator/index.js';
import { SERVER_ENTRY } from './servers.js';

export interface EmulatorProcess {
  appUrl: string;
  teamUrl: string;
  log(): Promise<LogEntry[]>;
  clearLog(): Promise<void>;
  requests(filter?: { endpoint?: string }): Promise<LogEntry[]>;
  close(): Promise<void>;
}

export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const child: ChildProcess = spawn(process.execPath, [SERVER_ENTRY, 'emulator', '--auto', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise<{ app: string; team: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the emulator did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const app = /protected app\s*:\s*(\S+)/.exec(out)?.[1];
      const team = /team domain\s*:\s*(\S+)/.exec(out)?.[1];
      if (app && team) {
        clearTimeout(timer);
        resolve({ app, team });
      }
    });
  });
  child.stdout!.resume();
  const admin = (path: string) => `${urls.team}/__emulator/${path}`;
  const log = async (): Promise<LogEntry[]> => {
    const response = await request(admin('log'));
    return (await response.body.json()) as LogEntry[];
  };
  return {
    appUrl: urls.app,
    teamUrl: urls.team,
    log,
    clearLog: async () => {
      const response = await request(admin('clear-log'), { method: 'POST', body: '{}' });
      await response.body.dump();
    },
    requests: async (filter = {}) => (await log()).filter((e) => !filter.endpoint || e.endpoint === filter.endpoint),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
