import { join } from 'node:path';
import { ensureInstalled, npmArch } from '../install.js';
import { emptyView, type ModelView } from '../models/view.js';
import { runBounded } from '../processes.js';
import { isolatedEnv } from '../workspace.js';
import { describeRun, type ClientDriver } from './driver.js';

const PKG = '@modelcontextprotocol/inspector';
const VERSION = '2.12.0';
// Inspector 2.x declares engines node >=22.19; Node 22 comes from the registry as a plain package.
const NODE22 = '22.23.3';

let node22 = '';
let launcher = '';

interface ContentItem {
  type?: string;
  text?: string;
  data?: string;
  mimeType?: string;
}

/** The CLI's tools/call JSON: the content a content-first client shows its model. */
function viewOf(stdout: string): ModelView | undefined {
  let parsed: { result?: { content?: ContentItem[]; isError?: boolean }; content?: ContentItem[]; isError?: boolean };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  const result = parsed.result ?? parsed;
  if (!Array.isArray(result.content)) return undefined;
  const view = emptyView();
  view.isError = result.isError === true;
  for (const item of result.content) {
    if (item.type === 'text' && item.text !== undefined) view.texts.push(item.text);
    if (item.type === 'image' && item.data) view.images.push({ mimeType: item.mimeType ?? '', data: item.data });
  }
  return view;
}

/** The official Inspector in CLI mode: one `tools/call` with --format json. */
export const inspector: ClientDriver = {
  id: 'inspector',
  label: `Inspector ${VERSION} (Node ${NODE22})`,
  async install(log) {
    const arch = npmArch();
    node22 = join(await ensureInstalled(`node-linux-${arch}`, NODE22, log), 'node_modules', `node-linux-${arch}`, 'bin', 'node');
    launcher = join(await ensureInstalled(PKG, VERSION, log), 'node_modules', '@modelcontextprotocol', 'inspector', 'clients', 'launcher', 'build', 'index.js');
  },
  async callAccessFetch(ws, args, timeoutMs) {
    const run = await runBounded(
      node22,
      [launcher, '--cli', ws.serverCommand, '--method', 'tools/call', '--tool-name', 'access_fetch', '--tool-args-json', JSON.stringify(args), '--format', 'json'],
      { cwd: ws.project, env: isolatedEnv(ws), timeoutMs },
    );
    const view = viewOf(run.stdout);
    return { view, note: view ? undefined : run.timedOut ? 'inspector timed out' : `no tools/call result (exit ${run.code})`, diagnostics: describeRun('inspector --cli', run) };
  },
};
