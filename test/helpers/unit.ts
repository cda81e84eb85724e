import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { SessionStore } from '../../src/auth/store.js';
import { ROOT } from './harness.js';

/** A raw GET with a Host header of our choosing (fetch does not let us set Host); `null` sends none. */
export function rawGet(address: string, port: number, path: string, host: string | null = `localhost:${port}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = host === null ? {} : { host };
    const req = request({ host: address, port, path, method: 'GET', headers, setHost: host !== null }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs an ES module `script` (TypeScript imports allowed) in a child node process with `env` added; rejects with its stderr. */
export function runScript(script: string, env: Record<string, string>, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited ${code}: ${stderr}`))));
  });
}

/** A store on `dir` whose warnings are collected. */
export function newStore(dir: string): { store: SessionStore; warnings: string[] } {
  const warnings: string[] = [];
  const store = new SessionStore(dir, (level, message) => {
    if (level === 'warning') warnings.push(message);
  });
  return { store, warnings };
}
