import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureInstalled, npmArch } from '../install.js';
import { startOpenAiModel } from '../models/openai.js';
import { runBounded } from '../processes.js';
import { isolatedEnv, type Workspace } from '../workspace.js';
import { describeRun, missingToolNote, type ClientDriver } from './driver.js';

const PKG = 'opencode-ai';
const VERSION = '1.18.33';
const TOOL = 'srv_access_fetch';
const NO_REGISTRY = 'http://127.0.0.1:9/';

let binary = '';

/** The same choice as the package's launcher: the baseline build on CPUs without AVX2. */
function pickBinary(dir: string): string {
  const arch = npmArch();
  const avx2 = existsSync('/proc/cpuinfo') && /\bavx2\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  const preferred = join(dir, 'node_modules', `opencode-linux-${arch}${avx2 ? '' : '-baseline'}`, 'bin', 'opencode');
  return existsSync(preferred) ? preferred : join(dir, 'node_modules', `opencode-linux-${arch}`, 'bin', 'opencode');
}

/** opencode.json (V1 schema): the server as a local MCP server, a scripted OpenAI-compatible provider as the model. */
function writeConfig(ws: Workspace, modelUrl: string): void {
  const config = {
    $schema: 'https://opencode.ai/config.json',
    autoupdate: false,
    share: 'disabled',
    mcp: { srv: { type: 'local', command: [ws.serverCommand], enabled: true } },
    provider: {
      scripted: {
        npm: '@ai-sdk/openai-compatible',
        name: 'scripted',
        options: { baseURL: `${modelUrl}/v1`, apiKey: 'scripted-endpoint-no-key' },
        // A vision-capable model: without image input OpenCode replaces a tool's image with an error text.
        models: { m: { name: 'm', tool_call: true, attachment: true, modalities: { input: ['text', 'image'], output: ['text'] } } },
      },
    },
    model: 'scripted/m',
    small_model: 'scripted/m',
  };
  writeFileSync(join(ws.project, 'opencode.json'), JSON.stringify(config, null, 2));
}

/** `opencode run` against a scripted chat-completions endpoint; the role:"tool" message it sends back is what the model reads. */
export const openCode: ClientDriver = {
  id: 'opencode',
  label: `OpenCode ${VERSION}`,
  async install(log) {
    binary = pickBinary(await ensureInstalled(PKG, VERSION, log));
  },
  async callAccessFetch(ws, args, timeoutMs) {
    const model = await startOpenAiModel({ tool: TOOL, args });
    try {
      writeConfig(ws, model.url);
      const env = isolatedEnv(ws, {
        OPENCODE_DISABLE_AUTOUPDATE: '1',
        OPENCODE_DISABLE_MODELS_FETCH: '1',
        OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
        OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
        OPENCODE_DISABLE_SHARE: '1',
        OPENCODE_DISABLE_CLAUDE_CODE: '1',
        // OpenCode asks registry.npmjs.org for packages at run time (seen with strace) though it needs none here:
        // a closed loopback port keeps the run on 127.0.0.1.
        NPM_CONFIG_REGISTRY: NO_REGISTRY,
        npm_config_registry: NO_REGISTRY,
        BUN_CONFIG_REGISTRY: NO_REGISTRY,
      });
      const run = await runBounded(binary, ['run', '--model', 'scripted/m', '--format', 'json', `Fetch ${String(args.url)} with access_fetch.`], {
        cwd: ws.project,
        env,
        timeoutMs,
      });
      const view = model.received();
      return {
        view,
        note: view ? undefined : run.timedOut ? 'opencode timed out' : missingToolNote(model.toolsOffered(), TOOL),
        diagnostics: `tools offered: ${model.toolsOffered().join(', ')}\n${describeRun('opencode run', run)}`,
      };
    } finally {
      await model.close();
    }
  },
};
