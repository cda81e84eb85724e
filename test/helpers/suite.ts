import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Emulator, EmulatorOptions } from '../../src/emulator/index.js';
import { cleanupHomes, startEmulator, TestServer, textOf, type ServerOptions } from './harness.js';
import { assertNoSecretsLeaked } from './leaks.js';

export interface Closable {
  close(): Promise<void>;
}

/** What an end-to-end test file starts through its suite (see `e2eSuite`). */
export interface E2eSuite {
  /** Secrets the leak check at the end looks for besides the emulators' own: tokens read from a store, headers seen. */
  readonly secrets: Set<string>;
  /** An emulator (its team trusted by the servers started here), closed after the test. */
  emulator(options?: EmulatorOptions): Promise<Emulator>;
  /** The built server over stdio, closed after the test. */
  server(options?: ServerOptions): Promise<TestServer>;
  /** Anything else to close after the test (in reverse order of starting, with the rest). */
  track<T extends Closable>(thing: T): T;
  /** `store.json` of `home`, parsed; its sessions' tokens are added to `secrets`. */
  readStore<T = StoreFile>(home: string): T;
}

export interface StoreFile {
  sessions: Record<string, { access_token: string; refresh_token?: string }>;
}

/**
 * The set-up most end-to-end files share: emulators and servers started
 * through the suite are closed after each test, newest first; after the file,
 * no secret of any emulator it started (nor any in `secrets`) appears in any
 * output the servers showed, and the temporary homes are removed.
 * `emulatorDefaults` are the options every emulator of the file starts with.
 */
export function e2eSuite(emulatorDefaults: EmulatorOptions = {}): E2eSuite {
  const running: Closable[] = [];
  const emulators: Emulator[] = [];
  const secrets = new Set<string>();
  afterEach(async () => {
    for (const thing of running.splice(0).reverse()) await thing.close();
  });
  after(() => {
    assertNoSecretsLeaked([...secrets, ...emulators.flatMap((e) => e.secrets())]);
    cleanupHomes();
  });
  const track = <T extends Closable>(thing: T): T => {
    running.push(thing);
    return thing;
  };
  return {
    secrets,
    track,
    emulator: async (options = {}) => {
      const emulator = track(await startEmulator({ ...emulatorDefaults, ...options }));
      emulators.push(emulator);
      return emulator;
    },
    server: async (options = {}) => track(await TestServer.start(options)),
    readStore: <T = StoreFile>(home: string): T => {
      const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as StoreFile;
      for (const session of Object.values(data.sessions ?? {})) {
        secrets.add(session.access_token);
        if (session.refresh_token) secrets.add(session.refresh_token);
      }
      return data as T;
    },
  };
}

/** The sentence on the emulator's protected pages. */
export const PROTECTED_SENTENCE = 'The protected resource was reached through Cloudflare Access.';

/** The result is not an error and carries the protected page's sentence. */
export function assertContent(result: CallToolResult): void {
  assert.notEqual(result.isError, true, `unexpected error: ${textOf(result)}`);
  assert.ok(textOf(result).includes(PROTECTED_SENTENCE), `content missing from: ${textOf(result).slice(0, 600)}`);
}
