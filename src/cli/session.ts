import { AccessService } from '../service/access-service.js';
import { loadConfig } from '../service/config.js';
import { cliLogger } from './output.js';

export interface CliSession {
  service: AccessService;
  /** Aborted by Ctrl-C (a second Ctrl-C exits at once). */
  signal: AbortSignal;
  close(): Promise<void>;
}

/** The access service for one CLI command, with Ctrl-C wired to stop waiting. */
export function openSession(verbose: boolean): CliSession {
  const service = new AccessService(loadConfig(), cliLogger(verbose));
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onInterrupt);
  return {
    service,
    signal: controller.signal,
    close: async () => {
      process.off('SIGINT', onInterrupt);
      await service.close().catch(() => {});
    },
  };
}
