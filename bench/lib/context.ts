import type { EmulatorProcess } from './emulator-process.js';

/** What every per-call figure shares: the emulator process and a store already logged in to its app. */
export interface BenchContext {
  emulator: EmulatorProcess;
  /** A store directory holding a live session for the emulator's app (servers started on it skip the login). */
  home: string;
  /** That session's access token, for the baselines (never printed). */
  token: string;
}

/** The pages measured, all from the emulator's /doc generator (an API reference shaped like real docs). */
export const PAGES = {
  /** About the 13.8 KB article of the issue. */
  article: (e: EmulatorProcess) => `${e.appUrl}/doc?kb=14`,
  /** A long doc: 7 pages at the default max_length (20,000 characters). */
  long: (e: EmulatorProcess) => `${e.appUrl}/doc?kb=150`,
  large: (e: EmulatorProcess) => `${e.appUrl}/doc?kb=250`,
};
