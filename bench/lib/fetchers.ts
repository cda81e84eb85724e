import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';

/** The raw baseline: undici `request` on a keep-alive Agent with the Bearer token, body read in full. */
export function rawFetcher(token: string): { time: (url: string) => Promise<number>; close: () => Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const headers = { authorization: `Bearer ${token}`, accept: '*/*' };
  return {
    time: async (url) => {
      const start = performance.now();
      const response = await request(url, { dispatcher: agent, headers });
      await response.body.arrayBuffer();
      const elapsed = performance.now() - start;
      if (response.statusCode !== 200) throw new Error(`raw request answered HTTP ${response.statusCode}`);
      return elapsed;
    },
    close: () => agent.close(),
  };
}
