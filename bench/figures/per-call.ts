import { rawFetcher } from '../lib/fetchers.js';
import { PAGES, type BenchContext } from '../lib/context.js';
import { row, type FigureResult } from '../lib/report.js';
import { BARE_FETCH_ENTRY, spawnServer, timeCall } from '../lib/servers.js';
import { median, p95, ratio, round } from '../lib/stats.js';

const ms = (v: number) => `${round(v, 1)} ms`;

/**
 * Warm access_fetch of the article against the bare SDK stdio tool doing the
 * same GET (a), that tool plus the same conversion libraries (b), and undici
 * in-process (c, the floor). One sample of each in turn, so noise hits all alike.
 */
export async function perCallFigure(ctx: BenchContext, samples = 150): Promise<FigureResult> {
  const url = PAGES.article(ctx.emulator);
  const ours = await spawnServer({ home: ctx.home });
  const bare = await spawnServer({ entry: BARE_FETCH_ENTRY, env: { BENCH_BEARER: ctx.token } });
  const raw = rawFetcher(ctx.token);
  const t = { md: [] as number[], raw: [] as number[], a: [] as number[], b: [] as number[], c: [] as number[] };
  try {
    const round1 = async (keep: boolean) => {
      const s = {
        md: await timeCall(ours, 'access_fetch', { url }),
        a: await timeCall(bare, 'fetch', { url }),
        b: await timeCall(bare, 'fetch', { url, markdown: true }),
        raw: await timeCall(ours, 'access_fetch', { url, format: 'raw' }),
        c: await raw.time(url),
      };
      if (keep) for (const k of Object.keys(s) as Array<keyof typeof s>) t[k].push(s[k]);
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
