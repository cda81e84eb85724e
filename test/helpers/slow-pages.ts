/**
 * Pages for the conversion pool's tests. The slow one is small (8 KB) but
 * nests 700 <div>s with no main element: Readability's work grows with the sum
 * of every element's depth, and this one stays just under the depth budget
 * past which Readability is skipped (src/http/html.ts), so it runs for
 * seconds — most of the default 10 s budget on a shared machine.
 */
const SLOW_DEPTH = 700;

export function slowPage(): Buffer {
  const words = '<p>Words at the bottom of a deep page, with <a href="/x">a link</a>, enough to be scored.</p>'.repeat(3);
  return Buffer.from(`<html><body>${'<div>'.repeat(SLOW_DEPTH)}${words}${'</div>'.repeat(SLOW_DEPTH)}</body></html>`);
}

/** A short page with no main element: it needs Readability, so it goes to a worker, where it takes milliseconds. */
export function smallUnmarkedPage(name: string): Buffer {
  const article = `<p>${`A sentence of the page called ${name}. `.repeat(15)}</p>`;
  return Buffer.from(`<!doctype html><html><head><title>${name}</title></head><body><div class="sidebar"><a href="/">Home</a></div><article><h1>${name}</h1>${article.repeat(3)}</article></body></html>`);
}
