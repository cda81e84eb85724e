/**
 * Characters per tool result, as each kind of client hands them to the model:
 * a content-first client (OpenCode 1.18, Gemini CLI, Inspector) shows the
 * text blocks; a structured-first client (Claude Code, VS Code, Codex) shows
 * JSON.stringify(structuredContent) when there is one, else the text blocks.
 *
 *   node --import tsx bench/result-size.ts [path/to/dist/index.js]
 *
 * The server entry is an argument so that an older build can be measured the
 * same way (the figures in the README compare the build before and after).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startEmulator } from '../src/emulator/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const entry = resolve(process.argv[2] ?? join(ROOT, 'dist', 'index.js'));
const PAGES = ['/', '/tables', '/page-10k', '/api/data.json', '/files/notes.txt'];

function textOf(result: CallToolResult): string {
  return result.content.filter((c): c is { type: 'text'; text: string } => c.type === 'text').map((c) => c.text).join('\n');
}

async function main(): Promise<void> {
  const emulator = await startEmulator();
  const home = mkdtempSync(join(tmpdir(), 'cfam-size-'));
  const env = { ...(process.env as Record<string, string>), CF_ACCESS_MCP_HOME: home, CF_ACCESS_MCP_CALLBACK_PORT: '0', CF_ACCESS_MCP_BROWSER: `${process.execPath} ${join(ROOT, 'test', 'fixtures', 'browser.mjs')}`, TEST_BROWSER_ACTION: 'approve', CF_ACCESS_MCP_TEAMS: new URL(emulator.teamUrl).host };
  const transport = new StdioClientTransport({ command: process.execPath, args: [entry], env, stderr: 'ignore' });
  const client = new Client({ name: 'result-size', version: '1' });
  await client.connect(transport);
  const rows: string[] = ['| page | content-first client | structured-first client |', '| --- | ---: | ---: |'];
  try {
    for (const path of PAGES) {
      const url = new URL(path, emulator.appUrl).href;
      const result = (await client.callTool({ name: 'access_fetch', arguments: { url } })) as CallToolResult;
      const content = textOf(result).length;
      const structured = result.structuredContent ? JSON.stringify(result.structuredContent).length : content;
      rows.push(`| \`${path}\` | ${content} | ${structured} |`);
    }
  } finally {
    await client.close();
    await emulator.close();
    rmSync(home, { recursive: true, force: true });
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}

await main();
