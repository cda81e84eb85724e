import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { resultData, SERVER_ENTRY, serverEnv } from '../helpers/harness.js';
import { recordOutput } from '../helpers/leaks.js';
import { e2eSuite } from '../helpers/suite.js';

/**
 * The MCP server owns its shutdown once the store's writer (conf) has loaded:
 * conf's when-exit hooks SIGINT and SIGTERM and re-raises them, which must not
 * end the process by signal before the login lock is released and the pending
 * login is kept for the next process. The built server over a bare pipe, so
 * that its exit status and every byte of its stdout are seen.
 */

const suite = e2eSuite();

interface StoreFile {
  registrations: Record<string, unknown>;
  pending_logins?: Record<string, { verifier: string; state: string; cookie?: { value: string } }>;
}

/** Every file and directory under `dir`, relative to it. */
function entriesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

/**
 * Starts the server, has it begin a login the scripted browser leaves open
 * (registration and the pending login are written through conf, and the login
 * lock is held), then ends it by `how`. Resolves once it exited.
 */
async function loginThenStop(how: 'SIGINT' | 'SIGTERM' | 'stdin') {
  const e = await suite.emulator();
  const { env, home } = serverEnv({ browser: 'ignore' });
  const child = spawn(process.execPath, [SERVER_ENTRY], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    recordOutput('stderr', chunk);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
  const answer = (id: number) =>
    new Promise<{ result: CallToolResult }>((resolve, reject) => {
      const look = () => {
        for (const line of stdout.split('\n').slice(0, -1)) {
          const message = JSON.parse(line) as { id?: number; method?: string };
          if (message.id === id && message.method === undefined) return resolve(message as never);
        }
        if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`the server exited before answering ${id}: ${stderr.slice(-2_000)}`));
        setTimeout(look, 50);
      };
      look();
    });

  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'access_fetch', arguments: { url: `${e.appUrl}/`, wait_seconds: 0 } } });
  const fetched = await answer(2);
  recordOutput('tool access_fetch', JSON.stringify(fetched));
  assert.equal(resultData(fetched.result).status, 'pending', JSON.stringify(fetched).slice(0, 400));
  assert.ok(entriesUnder(home).some((name) => name.endsWith('.lock')), 'the login lock is held while the login waits');

  if (how === 'stdin') child.stdin.end();
  else child.kill(how);
  const status = await exited;
  return { e, home, status, stdout, stderr };
}

describe('the server shuts down cleanly with a login pending and the store writer loaded', () => {
  for (const how of ['SIGINT', 'SIGTERM', 'stdin'] as const) {
    it(how === 'stdin' ? 'when the client closes stdin' : `on ${how}`, async () => {
      const { e, home, status, stdout, stderr } = await loginThenStop(how);
      assert.deepEqual(status, { code: 0, signal: null }, `exits 0 by itself, not by the signal; stderr:\n${stderr.slice(-2_000)}`);

      for (const line of stdout.split('\n').filter(Boolean)) {
        let message: { jsonrpc?: string } | undefined;
        assert.doesNotThrow(() => (message = JSON.parse(line) as { jsonrpc?: string }), `stdout line is not JSON: ${line.slice(0, 200)}`);
        assert.equal(message!.jsonrpc, '2.0', `not JSON-RPC: ${line.slice(0, 200)}`);
      }
      assert.ok(stdout.endsWith('\n'), 'no partial message on stdout');

      assert.deepEqual(entriesUnder(home).filter((name) => name.endsWith('.lock') || name.includes('.tmp')), [], 'no lock or temporary file left behind');
      const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as StoreFile;
      for (const pending of Object.values(store.pending_logins ?? {})) {
        suite.secrets.add(pending.verifier);
        if (pending.cookie) suite.secrets.add(pending.cookie.value);
      }
      assert.equal(Object.keys(store.registrations).length, 1, 'the registration is stored');
      assert.equal(Object.keys(store.pending_logins ?? {}).length, 1, 'the pending login is kept for the next process to finish');
      assert.equal(e.requests({ endpoint: 'token' }).length, 0);
    });
  }
});
