export interface WaitHooks {
  signal?: AbortSignal;
  /** Called about every second while waiting: seconds elapsed, seconds allowed. */
  onTick?: (elapsedSeconds: number, totalSeconds: number) => void;
}

export type WaitOutcome<T> = { done: true; value: T } | { done: false; reason: 'timeout' | 'cancelled' };

/**
 * Waits for `promise` at most `seconds`, or until `signal` aborts. A rejection
 * of `promise` is re-thrown. The promise itself is never cancelled: a pending
 * login keeps listening after the caller stops waiting.
 */
export function waitAtMost<T>(promise: Promise<T>, seconds: number, hooks: WaitHooks = {}): Promise<WaitOutcome<T>> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let finished = false;
    const finish = (fn: () => void) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(ticker);
      hooks.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => finish(() => resolve({ done: false, reason: 'cancelled' }));
    const timer = setTimeout(() => finish(() => resolve({ done: false, reason: 'timeout' })), Math.max(0, seconds * 1000));
    const ticker = setInterval(() => hooks.onTick?.(Math.round((Date.now() - started) / 1000), seconds), 1000);
    if (hooks.signal?.aborted) return onAbort();
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => finish(() => resolve({ done: true, value })),
      (error) => finish(() => reject(error)),
    );
  });
}
