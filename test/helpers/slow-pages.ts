/**
 * Pages for the conversion pool's tests. The slow one is a directory listing
 * (1.2 MB, 15,000 entries, each a <div> holding one link): shallow and within
 * the budgets past which Readability is skipped (src/http/html.ts), yet it
 * finds no article in it, so it tries again with looser rules, rebuilding the
 * whole page each time; it runs for seconds — most of the default 10 s budget
 * on a shared machine.
 */
const SLOW_ENTRIES = 15_000;

export function slowPage(): Buffer {
  const entries = Array.from({ length: SLOW_ENTRIES }, (_, i) => `<div><a href="/files/entry-${i}.html">entry-${i}.html</a> 2024-01-01 12:00 4.0K</div>`);
  return Buffer.from(`<html><body>${entries.join('')}</body></html>`);
}

/** The text the slow page's last entry converts to. */
export const SLOW_PAGE_LAST_ENTRY = `entry-${SLOW_ENTRIES - 1}.html`;

/**
 * A small page (8 KB) of 700 nested <div>s: Readability's work on it grows
 * with the cube of the depth (seconds), which is why it is past the nesting
 * budget and converted without Readability.
 */
export function deeplyNestedPage(): Buffer {
  const depth = 700;
  const words = '<p>Words at the bottom of a deep page, with <a href="/x">a link</a>, enough to be scored.</p>'.repeat(3);
  return Buffer.from(`<html><body>${'<div>'.repeat(depth)}${words}${'</div>'.repeat(depth)}</body></html>`);
}

/** A short page with no main element: it needs Readability, so it goes to a worker, where it takes milliseconds. */
export function smallUnmarkedPage(name: string): Buffer {
  const article = `<p>${`A sentence of the page called ${name}. `.repeat(15)}</p>`;
  return Buffer.from(`<!doctype html><html><head><title>${name}</title></head><body><div class="sidebar"><a href="/">Home</a></div><article><h1>${name}</h1>${article.repeat(3)}</article></body></html>`);
}
