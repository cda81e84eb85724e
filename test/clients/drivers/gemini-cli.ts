import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureInstalled } from '../install.js';
import { startGeminiModel } from '../models/gemini.js';
import { runBounded } from '../processes.js';
import { isolatedEnv, type Workspace } from '../workspace.js';
import { describeRun, missingToolNote, type ClientDriver } from './driver.js';

const PKG = '@google/gemini-cli';
const VERSION = '0.61.0';
const TOOL = 'mcp_srv_access_fetch';

let bundle = '';

/**
 * User settings (API-key auth, no telemetry or update checks), the project folder marked
 * trusted (else Gemini starts no MCP server), and the server in the project's settings.
 */
function writeSettings(ws: Workspace): void {
  const userDir = join(ws.home, '.gemini');
  const projectDir = join(ws.project, '.gemini');
  mkdirSync(userDir, { recursive: true });
  mkdirSync(projectDir, { recursive: true });
  const user = {
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    general: { disableAutoUpdate: true, disableUpdateNag: true },
  };
  writeFileSync(join(userDir, 'settings.json'), JSON.stringify(user, null, 2));
  writeFileSync(join(userDir, 'trustedFolders.json'), JSON.stringify({ [ws.project]: 'TRUST_FOLDER' }));
  writeFileSync(join(projectDir, 'settings.json'), JSON.stringify({ mcpServers: { srv: { command: ws.serverCommand, args: [] } } }, null, 2));
}

/** `gemini -p` (yolo approval) against a scripted Gemini API; the functionResponse turn it sends back is what the model reads. */
export const geminiCli: ClientDriver = {
  id: 'gemini-cli',
  label: `Gemini CLI ${VERSION}`,
  async install(log) {
    bundle = join(await ensureInstalled(PKG, VERSION, log), 'node_modules', '@google', 'gemini-cli', 'bundle', 'gemini.js');
  },
  async callAccessFetch(ws, args, timeoutMs) {
    const model = await startGeminiModel({ tool: TOOL, args });
    try {
      writeSettings(ws);
      const env = isolatedEnv(ws, { GEMINI_API_KEY: 'scripted-endpoint-no-key', GOOGLE_GEMINI_BASE_URL: model.url, GEMINI_CLI_NO_RELAUNCH: '1' });
      const run = await runBounded(
        process.execPath,
        [bundle, '-p', `Fetch ${String(args.url)} with access_fetch.`, '--approval-mode', 'yolo', '--output-format', 'stream-json'],
        { cwd: ws.project, env, timeoutMs },
      );
      const view = model.received();
      return {
        view,
        note: view ? undefined : run.timedOut ? 'gemini timed out' : missingToolNote(model.toolsOffered(), TOOL),
        diagnostics: `tools offered: ${model.toolsOffered().join(', ')}\n${describeRun('gemini -p', run)}`,
      };
    } finally {
      await model.close();
    }
  },
};
