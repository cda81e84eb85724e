import { AccessService } from '../service/access-service.js';
import { loadConfig } from '../service/config.js';
import { ownSignals } from '../core/own-signals.js';
import { cliLogger, reportStoppedAtOnce } from './output.js';

export interface CliSession {
  service: AccessService;
  /** Aborted by Ctrl-C (a second Ctrl-C exits at once, also with exit code 3). */
  signal: AbortSignal;
  close(): Promise<void>;
}

/** The access service for one CLI command, with Ctrl-C wired to stop waiting. */
export function openSession(verbose: boolean): CliSession {
  const service = new AccessService(loadConfig(), cliLogger(verbose));
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(reportStoppedAtOnce());
    controller.abort();
  };
  // The command owns Ctrl-C (see ownSignals): a library re-raising it would kill the process by signal before
  // the login ends, its lock is released and the exit code 3 is set.
  const release = ownSignals(['SIGINT'], onInterrupt);
  return {
    service,
    signal: controller.signal,
    close: async () => {
      release();
      await service.close().catch(() => {});
    },
  };
}
