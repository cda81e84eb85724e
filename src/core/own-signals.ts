/**
 * Makes `handler` the only listener of `signals` in this process, and keeps
 * it so while libraries load later and add their own.
 *
 * Why: when-exit (under conf's atomic writes, loaded with the store's writer
 * on its first write) hooks SIGINT, SIGTERM and more, runs its clean-ups and
 * re-raises the signal unconditionally; signal-exit (under proper-lockfile)
 * re-raises it when it believes it is alone. Either can end the process by
 * signal, or run clean-ups, while our own shutdown is still releasing a login
 * lock and saving a pending login. Their 'exit' hooks are left alone: they
 * still run when we exit.
 *
 * Returns a function that stops owning the signals (and removes `handler`).
 */
export function ownSignals(signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void {
  const owned = new Set<string | symbol>(signals);
  const takeOver = (signal: NodeJS.Signals) => {
    for (const listener of process.listeners(signal)) if (listener !== handler) process.off(signal, listener as (...args: unknown[]) => void);
  };
  // 'newListener' fires before the listener is added: take it off on the next turn.
  const onNewListener = (event: string | symbol) => {
    if (owned.has(event)) setImmediate(() => takeOver(event as NodeJS.Signals));
  };
  for (const signal of signals) {
    takeOver(signal);
    process.on(signal, handler);
  }
  process.on('newListener', onNewListener);
  return () => {
    process.off('newListener', onNewListener);
    for (const signal of signals) process.off(signal, handler);
  };
}
