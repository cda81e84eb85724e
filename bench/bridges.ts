/**
 * Bridges (issue 14): the local proxy and the MCP bridge, each against the direct
 * request it stands in for, measured side by side in the same run (ratios, not
 * absolute times). Self-contained: `bridgeRows(emulator)` returns table rows.
 * No secret is printed: the direct baselines read the token from the store file in-process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, request } from 'undici';
import { keepFreedMemoryForReuse } from '../src/core/malloc-reuse.js';

export interface BridgeRow {
  figure: string;
  value: string;
  goal: string;
  met: boolean | null;
}

const ROOT = resolve(import.meta.dirname, '..');
const ENTRY = join(ROOT, 'dist', 'index.js');
const BROWSER = join(ROOT, 'test', 'fixtures', 'browser.mjs');
const BARE_PROXY = join(ROOT, 'bench', 'bare-proxy.mjs');
const TCP_PIPE = join(ROOT, 'bench', 'tcp-pipe.mjs');
const GIB = 1024 * 1024 * 1024;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

function childEnv(home: string, dir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(https?_proxy|no_proxy|all_proxy)$/i.test(k)) env[k] = v;
  return { ...env, CF_ACCESS_MCP_HOME: home, CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: `${process.execPath} ${BROWSER}`, TEST_BROWSER_LOG: join(dir, 'browser.log'), TEST_BROWSER_JAR: join(dir, 'jar.json'), TEST_BROWSER_ACTION: 'approve' };
}

function storedToken(home: string, origin: string): string {
  const data = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8')) as { sessions?: Record<string, { access_token?: string }> };
  const token = data.sessions?.[origin]?.access_token;
  if (!token) throw new Error(`no stored session for ${origin}`);
  return token;
}

/** CPU time (user + system) a process has used, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
}

async function startProxy(url: string, env: Record<string, string>, command = [ENTRY, 'proxy', url]): Promise<{ base: string; child: ChildProcess }> {
  const child = spawn(process.execPath, command, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const base = await new Promise<string>((done, fail) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) done(out.trim());
    });
    child.once('exit', (code) => fail(new Error(`proxy exited with ${code}`)));
  });
  return { base, child };
}

async function timeGet(agent: Agent, url: string, headers: Record<string, string>): Promise<number> {
  const start = performance.now();
  const response = await request(url, { dispatcher: agent, headers });
  await response.body.arrayBuffer();
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode} from ${url}`);
  return performance.now() - start;
}

/** Bytes per second of one streamed download (body counted, not kept). */
async function downloadRate(agent: Agent, url: string, headers: Record<string, string>): Promise<number> {
  const start = performance.now();
  const response = await request(url, { dispatcher: agent, headers });
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode} from ${url}`);
  let bytes = 0;
  for await (const chunk of response.body) bytes += (chunk as Buffer).length;
  return bytes / ((performance.now() - start) / 1000);
}

async function upload(agent: Agent, url: string, headers: Record<string, string>, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024, 0x62);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= bytes) return void this.push(null);
      sent += chunk.length;
      this.push(chunk);
    },
  });
  const start = performance.now();
  const response = await request(url, { dispatcher: agent, method: 'POST', headers: { ...headers, 'content-length': String(bytes) }, body });
  await response.body.text();
  return bytes / ((performance.now() - start) / 1000);
}

async function proxyRows(emulator: EmulatorUrls, env: Record<string, string>, home: string): Promise<BridgeRow[]> {
  // The downloading client gets the proxy's malloc setting too: left to glibc's defaults it faults every
  // batch of freed socket buffers back in, and a slowed direct download made the proxy's share look better
  // than it is (direct swung between 478 and 1,317 MB/s within one process). curl pays no such cost.
  keepFreedMemoryForReuse();
  const { base, child } = await startProxy(emulator.appUrl, env);
  // The floors: the same hop through the least a Node HTTP proxy does (bench/bare-proxy.mjs), and through
  // a pure TCP byte pipe that parses nothing (bench/tcp-pipe.mjs; the request carries the token and the origin's Host itself).
  const bare = await startProxy(emulator.appUrl, env, [BARE_PROXY, emulator.appUrl, join(home, 'store.json')]);
  const pipe = await startProxy(emulator.appUrl, env, [TCP_PIPE, emulator.appUrl]);
  const direct = new Agent({ keepAliveTimeout: 30_000 });
  const viaProxy = new Agent({ keepAliveTimeout: 30_000 });
  const viaBare = new Agent({ keepAliveTimeout: 30_000 });
  const viaPipe = new Agent({ keepAliveTimeout: 30_000 });
  try {
    const auth = { authorization: `Bearer ${storedToken(home, emulator.appUrl)}`, accept: '*/*' };
    const piped = { ...auth, host: new URL(emulator.appUrl).host };
    const samples = { direct: [] as number[], proxy: [] as number[], bare: [] as number[], pipe: [] as number[] };
    const round4 = async (keep: boolean) => {
      const d = await timeGet(direct, `${emulator.appUrl}/page-10k`, auth);
      const p = await timeGet(viaProxy, `${base}/page-10k`, { accept: '*/*' });
      const b = await timeGet(viaBare, `${bare.base}/page-10k`, { accept: '*/*' });
      const t = await timeGet(viaPipe, `${pipe.base}/page-10k`, piped);
      if (!keep) return;
      samples.direct.push(d);
      samples.proxy.push(p);
      samples.bare.push(b);
      samples.pipe.push(t);
    };
    for (let i = 0; i < 20; i++) await round4(false);
    const pid = child.pid!;
    const cpuBefore = cpuMs(pid);
    // All four side by side in every round (a shared machine drifts), the same direct samples for every ratio.
    for (let i = 0; i < 200; i++) await round4(true);
    const cpuPerRequest = (cpuMs(pid) - cpuBefore) / 200;
    bare.child.kill('SIGINT');
    const m = { direct: median(samples.direct), proxy: median(samples.proxy), bare: median(samples.bare), pipe: median(samples.pipe) };
    const overhead = m.proxy / m.direct;

    const before = rss(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 100);
    const rates = { direct: 0, proxy: 0, pipe: 0, up: 0 };
    try {
      // Two rounds in alternating order, so neither side always runs first (a shared machine drifts).
      const down = { direct: [] as number[], proxy: [] as number[], pipe: [] as number[] };
      const get = { direct: () => downloadRate(direct, `${emulator.appUrl}/big?size=${GIB}`, auth), proxy: () => downloadRate(viaProxy, `${base}/big?size=${GIB}`, {}), pipe: () => downloadRate(viaPipe, `${pipe.base}/big?size=${GIB}`, piped) };
      for (const order of [['direct', 'proxy', 'pipe'], ['pipe', 'proxy', 'direct']] as const) {
        for (const side of order) down[side].push(await get[side]());
      }
      pipe.child.kill('SIGINT');
      rates.direct = (down.direct[0]! + down.direct[1]!) / 2;
      rates.proxy = (down.proxy[0]! + down.proxy[1]!) / 2;
      rates.pipe = (down.pipe[0]! + down.pipe[1]!) / 2;
      rates.up = await upload(viaProxy, `${base}/upload`, {}, GIB);
    } finally {
      clearInterval(sampler);
    }
    const growth = (Math.max(peak, rss(pid)) - before) / 1048576;
    const share = rates.proxy / rates.direct;
    const mbs = (r: number) => `${Math.round(r / 1048576)} MB/s`;
    return [
      {
        figure: 'proxy: GET 10 KB through cf-access-mcp proxy vs direct keep-alive with the token (n=200, interleaved)',
        value: `median ${round(m.proxy)} ms vs ${round(m.direct)} ms = ${round(overhead)}× (proxy CPU ${round(cpuPerRequest)} ms/request)`,
        goal: '≤ 1.2×',
        met: overhead <= 1.2,
      },
      {
        figure: 'proxy floor: the same GET through a minimal Node proxy (bench/bare-proxy.mjs: no checks) vs direct (n=200)',
        value: `median ${round(m.bare)} ms vs ${round(m.direct)} ms = ${round(m.bare / m.direct)}×`,
        goal: '',
        met: null,
      },
      {
        figure: 'proxy floor: the same GET through a pure TCP byte pipe (bench/tcp-pipe.mjs: no HTTP parsing, token sent by the client) vs direct (n=200)',
        value: `median ${round(m.pipe)} ms vs ${round(m.direct)} ms = ${round(m.pipe / m.direct)}×`,
        goal: '',
        met: null,
      },
      { figure: 'proxy: 1 GiB download throughput vs direct (mean of 2 rounds, alternating order, with the TCP pipe)', value: `${mbs(rates.proxy)} vs ${mbs(rates.direct)} = ${Math.round(share * 100)} %`, goal: '≥ 80 %', met: share >= 0.8 },
      {
        figure: 'proxy floor: the same 1 GiB download through the pure TCP byte pipe vs direct (same rounds)',
        value: `${mbs(rates.pipe)} vs ${mbs(rates.direct)} = ${Math.round((rates.pipe / rates.direct) * 100)} %`,
        goal: '',
        met: null,
      },
      { figure: 'proxy: RSS growth over 1 GiB down + 1 GiB up', value: `${round(growth, 1)} MB (upload ${mbs(rates.up)})`, goal: '< 60 MB', met: growth < 60 },
    ];
  } finally {
    child.kill('SIGINT');
    bare.child.kill('SIGINT');
    pipe.child.kill('SIGINT');
    await Promise.all([direct.close(), viaProxy.close(), viaBare.close(), viaPipe.close()]);
  }
}

async function bridgeRowsOf(emulator: EmulatorUrls, env: Record<string, string>, home: string): Promise<BridgeRow[]> {
  const bridged = new Client({ name: 'bench-bridge', version: '1' });
  await bridged.connect(new StdioClientTransport({ command: process.execPath, args: [ENTRY, 'bridge', `${emulator.appUrl}/mcp`], env, stderr: 'ignore' }));
  const headers = { authorization: `Bearer ${storedToken(home, emulator.appUrl)}` };
  const direct = new Client({ name: 'bench-direct', version: '1' });
  await direct.connect(new StreamableHTTPClientTransport(new URL(`${emulator.appUrl}/mcp`), { requestInit: { headers } }));
  const time = async (client: Client) => {
    const start = performance.now();
    await client.callTool({ name: 'echo', arguments: { text: 'bench' } });
    return performance.now() - start;
  };
  try {
    const samples = { direct: [] as number[], bridge: [] as number[] };
    for (let i = 0; i < 20; i++) await Promise.all([time(direct), time(bridged)]);
    for (let i = 0; i < 200; i++) {
      samples.direct.push(await time(direct));
      samples.bridge.push(await time(bridged));
    }
    const m = { direct: median(samples.direct), bridge: median(samples.bridge) };
    return [
      {
        figure: 'bridge: tool call over stdio through cf-access-mcp bridge vs a direct Streamable HTTP client (n=200)',
        value: `median ${round(m.bridge)} ms vs ${round(m.direct)} ms = ${round(m.bridge / m.direct)}× (+${round(m.bridge - m.direct)} ms)`,
        goal: '',
        met: null,
      },
    ];
  } finally {
    await Promise.all([bridged.close().catch(() => {}), direct.close().catch(() => {})]);
  }
}

/** An emulator in this process or its own: only its app URL is used. */
interface EmulatorUrls {
  appUrl: string;
}

/** The bridge figures against a running emulator whose team the environment trusts (CF_ACCESS_MCP_TEAMS). */
export async function bridgeRows(emulator: EmulatorUrls): Promise<BridgeRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cfam-bench-bridges-'));
  const home = join(dir, 'home');
  const env = childEnv(home, dir);
  try {
    return [...(await proxyRows(emulator, env, home)), ...(await bridgeRowsOf(emulator, env, home))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
