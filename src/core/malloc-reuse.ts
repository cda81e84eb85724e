import { MessageChannel } from 'node:worker_threads';

/**
 * glibc's dynamic mmap threshold: freeing a block it had mmapped raises the
 * mmap threshold to that block's size and the trim threshold to twice it
 * (only up to 32 MB a block, and never when the user tuned malloc with
 * MALLOC_* variables). 32 MB less a few pages stays within that limit.
 */
const THRESHOLD_BLOCK = 32 * 1024 * 1024 - 64 * 1024;

let done = false;

/**
 * Lets glibc keep freed memory for reuse instead of handing it back to the
 * kernel at once. A process that streams bodies gets a fresh 64 KB buffer for
 * every socket read, and V8 frees them in batches of tens of MB at each
 * collection. With glibc's default trim threshold (128 KB) every batch was
 * returned to the kernel and the next one faulted in again page by page:
 * about 150,000 page faults per GiB relayed, which doubled the proxy's CPU
 * time (measured: 6–7 s of CPU per GiB, about 2.2 s with this).
 *
 * One block is allocated and freed at once: glibc then raises its thresholds
 * to about 32 and 64 MB, so batches of that size are reused. Freed memory up
 * to that much may stay resident after a large transfer; the peak is what it
 * was. The block is never written, so it costs no memory itself; other
 * allocators (musl, macOS) just free it.
 */
export function keepFreedMemoryForReuse(): void {
  if (done) return;
  done = true;
  // Uninitialised: malloc maps it and no page of it is ever touched.
  const block = Buffer.allocUnsafeSlow(THRESHOLD_BLOCK);
  // Freed now, not whenever V8 collects it: left to the collector it could live on
  // for minutes (its size alone starts a marking that sees it still in use).
  // Moved into a message that is dropped unread when the channel closes.
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(null, [block.buffer]);
  port1.close();
  port2.close();
}
