import { join } from 'node:path';
import { ensureInstalled, npmArch } from '../install.js';
import { startAnthropicModel } from '../models/anthropic.js';
import { runBounded } from '../processes.js';
import { isolatedEnv, type Workspace } from '../workspace.js';
import { describeRun, missingToolNote, type ClientDriver } from './driver.js';

const PKG = '@anthropic-ai/claude-code';
const VERSION = '2.1.332';
const TOOL = 'mcp__srv__access_fetch';

let binary = '';

/**
 * Claude Code headless (`claude -p`) against a scripted Messages API on loopback: the
 * scripted model asks for access_fetch, and the tool_result Claude Code sends back in
 * the next request is exactly what a model would read.
 */
export const claudeCode: ClientDriver = {
  id: 'claude-code',
  label: `Claude Code ${VERSION}`,
  async install(log) {
    const dir = await ensureInstalled(PKG, VERSION, log);
    // The native binary is in the platform package; the wrapper's postinstall only copies it.
    binary = join(dir, 'node_modules', '@anthropic-ai', `claude-code-linux-${npmArch()}`, 'claude');
  },
  async callAccessFetch(ws: Workspace, args, timeoutMs) {
    const model = await startAnthropicModel({ tool: TOOL, args });
    try {
      const mcpConfig = { mcpServers: { srv: { type: 'stdio', command: ws.serverCommand, args: [] } } };
      const env = isolatedEnv(ws, {
        ANTHROPIC_BASE_URL: model.url,
        ANTHROPIC_API_KEY: 'scripted-endpoint-no-key',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        MCP_TIMEOUT: String(timeoutMs),
        // Tool search would defer MCP tools behind ToolSearch; offered directly, the scripted model can call it in one turn.
        ENABLE_TOOL_SEARCH: 'false',
      });
      const run = await runBounded(
        binary,
        [
          '-p',
          `Fetch ${String(args.url)} with access_fetch.`,
          '--output-format',
          'stream-json',
          '--verbose',
          '--strict-mcp-config',
          '--mcp-config',
          JSON.stringify(mcpConfig),
          '--allowedTools',
          TOOL,
        ],
        { cwd: ws.project, env, timeoutMs },
      );
      const view = model.received();
      return {
        view,
        note: view ? undefined : run.timedOut ? 'claude timed out' : missingToolNote(model.toolsOffered(), TOOL),
        diagnostics: `tools offered: ${model.toolsOffered().join(', ')}\n${describeRun('claude -p', run)}`,
      };
    } finally {
      await model.close();
    }
  },
};
