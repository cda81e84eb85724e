import { AccessService } from '../service/access-service.js';
import { loadConfig } from '../service/config.js';
import { EXIT } from './exit-codes.js';
import { cliLogger } from './output.js';

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
    if (controller.signal.aborted) process.exit(EXIT.loginIncomplete);
    controller.abort();
  };
  // The command owns Ctrl-C. Libraries hook SIGINT to re-raise it (when-exit, under conf's atomic writes,
  // does so unconditionally), which would kill the process by signal before the login ends, its lock is
  // released and the exit code 3 is set. Their 'exit' hooks still run when the command exits.
  // The store's writer (conf) loads on the first write, mid-command: its hook is taken off as it comes.
  const ownInterrupt = () => {
    for (const listener of process.listeners('SIGINT')) if (listener !== onInterrupt) process.off('SIGINT', listener);
  };
  const onNewListener = (event: string | symbol) => {
    if (event === 'SIGINT') setImmediate(ownInterrupt);
  };
  ownInterrupt();
  process.on('SIGINT', onInterrupt);
  process.on('newListener', onNewListener);
  return {
    service,
    signal: controller.signal,
    close: async () => {
      process.off('newListener', onNewListener);
      process.off('SIGINT', onInterrupt);
      await service.close().catch(() => {});
    },
  };
}
