import { startEmulatorProcess } from './lib/emulator-process.js';
import { expectOk, removeTempDirs, spawnServer, tempDir } from './lib/servers.js';
import { PAGES } from './lib/context.js';
const emulator = await startEmulatorProcess();
process.env.CF_ACCESS_MCP_TEAMS = new URL(emulator.teamUrl).host;
try {
  const home = tempDir();
  const s0 = await spawnServer({ home });
  expectOk(await s0.call('access_fetch', { url: `${emulator.appUrl}/` }), 'login');
  await s0.close();
  const server = await spawnServer({ home, entry: '/tmp/ovh/loadlog-entry.mjs', stderr: true });
  await new Promise((r) => setTimeout(r, 2500));
  const before = server.stderr().length;
  expectOk(await server.call('access_fetch', { url: PAGES.article(emulator) }), 'first');
  await new Promise((r) => setTimeout(r, 300));
  console.log(server.stderr().slice(before).split('\n').filter(Boolean).map((l) => l.replace(/.*wt-overhead\//, '')).join('\n'));
  await server.close();
} finally { await emulator.close(); removeTempDirs(); }
process.exit(0);
