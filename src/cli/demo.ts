import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startEmulator, type LogEntry } from '../emulator/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = (line = '') => process.stdout.write(`${line}\n`);

const STEP_NAMES: Record<string, string> = {
  probe: 'probe: Access challenges the unauthenticated request',
  resource_metadata: 'RFC 9728 resource metadata',
  server_metadata: 'RFC 8414 authorization server metadata',
  registration: 'RFC 7591 dynamic client registration',
  authorize: 'authorization (PKCE S256, state, resource) — the browser step',
  token: 'code exchange for tokens',
  resource: 'authenticated request with the Bearer token',
};

function traceLine(entry: LogEntry): string {
  const where = entry.origin === 'team' ? 'team domain' : entry.origin;
  return `  ${String(entry.status).padEnd(3)} ${entry.method.padEnd(4)} ${where.padEnd(11)} ${entry.path.split('?')[0]!.padEnd(58)} ${STEP_NAMES[entry.endpoint] ?? entry.endpoint}`;
}

/** NO_PROXY (both spellings) extended with the loopback hosts, keeping what the user listed. */
function loopbackBypassesProxy(): Record<string, string> {
  const listed = process.env.no_proxy ?? process.env.NO_PROXY ?? '';
  const value = [listed, '127.0.0.1', 'localhost', '[::1]'].filter(Boolean).join(',');
  return { NO_PROXY: value, no_proxy: value };
}

/** `cf-access-mcp demo`: the whole flow against the built-in emulator, traced. */
export async function runDemo(): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), 'cf-access-mcp-demo-'));
  const emulator = await startEmulator({ approval: 'auto', trace: (entry) => out(traceLine(entry)) });
  const client = new Client({ name: 'cf-access-mcp-demo', version: '1.0.0' });
  try {
    out('cf-access-mcp demo — an agent fetches a page behind (emulated) Cloudflare Access');
    out(`  protected app:      ${emulator.appUrl}`);
    out(`  team domain (AS):   ${emulator.teamUrl}`);
    out(`  token store:        ${home}`);
    out();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(here, '..', 'index.js')],
      env: {
        ...(process.env as Record<string, string>),
        CF_ACCESS_MCP_HOME: home,
        CF_ACCESS_MCP_BROWSER: `${process.execPath} ${join(here, 'follow-browser.js')}`,
        CF_ACCESS_MCP_CALLBACK_PORT: '0',
        // The emulated team is one the demo user chose: its sign-in page may open without asking.
        CF_ACCESS_MCP_TEAMS: new URL(emulator.teamUrl).host,
        // The emulator is on loopback: a proxy set for the user's network could not reach it.
        ...loopbackBypassesProxy(),
      },
      stderr: 'ignore',
    });
    await client.connect(transport);
    const { tools } = await client.listTools();
    out(`MCP server started over stdio; tools: ${tools.map((t) => t.name).join(', ')}`);
    out();
    out(`1) access_fetch ${emulator.appUrl}/ — cold: no session yet`);
    const first = await client.callTool({ name: 'access_fetch', arguments: { url: `${emulator.appUrl}/` } });
    out();
    const text = (first.content as Array<{ type: string; text?: string }>).find((c) => c.type === 'text')?.text ?? '';
    if (first.isError) {
      out(`The fetch failed:\n${text}`);
      return 1;
    }
    out('Content returned to the agent (Markdown):');
    out('─'.repeat(72));
    out(text.length > 1600 ? `${text.slice(0, 1600)}\n…` : text);
    out('─'.repeat(72));
    out();
    out(`2) access_fetch ${emulator.appUrl}/api/data.json — warm: the stored session is reused`);
    const second = await client.callTool({ name: 'access_fetch', arguments: { url: `${emulator.appUrl}/api/data.json` } });
    out();
    out(second.isError ? 'The second fetch failed.' : 'One request, no login. The tokens stayed inside the server: the agent never saw them.');
    return second.isError ? 1 : 0;
  } finally {
    await client.close().catch(() => {});
    await emulator.close();
    rmSync(home, { recursive: true, force: true });
  }
}
