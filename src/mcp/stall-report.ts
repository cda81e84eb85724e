/**
 * For `npm run bench` only: with CF_ACCESS_MCP_REPORT_STALLS=1 the server
 * watches its own event loop (monitorEventLoopDelay) and, on each SIGUSR2,
 * writes the longest stall since the previous signal to stderr as
 * `cf-access-mcp stall-max-ms=<n>`, then starts over. Off by default.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ownSignals } from '../core/own-signals.js';

export function reportStalls(env: NodeJS.ProcessEnv = process.env): void {
  if (env.CF_ACCESS_MCP_REPORT_STALLS !== '1') return;
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // Owned (see ownSignals): when-exit, loaded with the store's writer, hooks SIGUSR2 too and would run its clean-ups.
  ownSignals(['SIGUSR2'], () => {
    process.stderr.write(`cf-access-mcp stall-max-ms=${(histogram.max / 1e6).toFixed(1)}\n`);
    histogram.reset();
  });
}
