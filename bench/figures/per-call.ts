import { rawFetcher } from '../lib/fetchers.js';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { BARE_FETCH_ENTRY, spawnServer, timeCall } from '../lib/servers.js';
import { median, p95, ratio, round } from '../lib/stats.js';

const ms = (v: number) => `${round(v, 1)} ms`;

/**
 * Warm access_fetch of the article against the bare SDK stdio tool doing the
 * same GET (a), that tool plus the same conversion libraries (b), and undici
 * in-process (c, the floor). One sample of each per round, so noise hits all alike.
 */
export async function perCallFigure(ctx: BenchContext, samples = 300): Promise<FigureResult> {
  const url = PAGES.article(ctx.emulator);
  const ours = await spawnServer({ home: ctx.home });
  const bare = await spawnServer({ entry: BARE_FETCH_ENTRY, env: { BENCH_BEARER: ctx.token } });
  const raw = rawFetcher(ctx.token);
  const t = { md: [] as number[], raw: [] as number[], a: [] as number[], b: [] as number[], c: [] as number[] };
  try {
    const calls: Record<keyof typeof t, () => Promise<number>> = {
      md: () => timeCall(ours, 'access_fetch', { url }),
      b: () => timeCall(bare, 'fetch', { url, markdown: true }),
      raw: () => timeCall(ours, 'access_fetch', { url, format: 'raw' }),
      a: () => timeCall(bare, 'fetch', { url }),
      c: () => raw.time(url),
    };
    const kinds = Object.keys(calls) as Array<keyof typeof t>;
    const shuffled = seededShuffle(20_261_203);
    // Each round in its own random order (seeded: the same every run), so that over the run each kind of call follows
    // every other about equally often. A server's answer depends on what ran just before it (called back to back it is faster than
    // woken after another's call, and slower after a heavy one): a fixed order favoured some calls by up to a tenth.
    const round1 = async (keep: boolean) => {
      for (const kind of shuffled(kinds)) {
        const took = await calls[kind]();
        if (keep) t[kind].push(took);
      }
    };
    for (let i = 0; i < 20; i++) await round1(false);
    for (let i = 0; i < samples; i++) await round1(true);
  } finally {
    await raw.close();
    await ours.close();
    await bare.close();
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  const q = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, p95(v)])) as Record<keyof typeof t, number>;
  const vsB = ratio(m.md, m.b);
  const vsA = ratio(m.md, m.a);
  const rawVsA = ratio(m.raw, m.a);
  return {
    name: 'per-call',
    rows: [
      row(`warm access_fetch → Markdown (13.8 KB API page) vs bare tool + same libraries (b) (n=${samples})`, `median ${ms(m.md)} vs ${ms(m.b)} = ${vsB}× (p95 ${ratio(q.md, q.b)}×)`, '≤ 1.10×', vsB <= 1.1),
      row('… vs bare SDK tool doing the same GET (a)', `${ms(m.md)} vs ${ms(m.a)} = ${vsA}×`, '≤ 2.0×', vsA <= 2.0),
      row('warm access_fetch, format raw, vs bare tool (a)', `median ${ms(m.raw)} vs ${ms(m.a)} = ${rawVsA}× (p95 ${ratio(q.raw, q.a)}×)`, '≤ 1.10×', rawVsA <= 1.1),
      row('… floor: undici in-process (c), no MCP hop', `median ${ms(m.c)}; Markdown ${ratio(m.md, m.c)}×, raw ${ratio(m.raw, m.c)}×`),
    ],
    data: { url, samples, medians: m, p95: q },
  };
}

/** A shuffler whose orders are the same in every run (mulberry32 from `seed`, then Fisher-Yates). */
function seededShuffle(seed: number): <T>(items: readonly T[]) => T[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
  return (items) => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  };
}
