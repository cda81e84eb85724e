import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/harness.js';

/**
 * Issue 15 item 1: the published tarball holds exactly what a user needs:
 * the built CLI, its documentation, the client entries and the licence.
 * `npm test` builds first, so dist/ exists here.
 */

const EXPECTED_TOP_LEVEL = ['AGENTS.md', 'LICENSE', 'README.md', 'mcp.json.example', 'package.json'];

interface PackEntry {
  files: Array<{ path: string }>;
}

function packedFiles(): string[] {
  // --ignore-scripts: no prepack build here (the test run already built dist/).
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [entry] = JSON.parse(out) as PackEntry[];
  return entry!.files.map((f) => f.path).sort();
}

describe('npm package contents', () => {
  const files = packedFiles();

  it('packs exactly LICENSE, README.md, AGENTS.md, mcp.json.example, package.json and dist/**', () => {
    assert.deepEqual(files.filter((f) => !f.startsWith('dist/')), EXPECTED_TOP_LEVEL);
    assert.ok(files.includes('dist/index.js'), 'the CLI entry point is packed');
    assert.ok(files.filter((f) => f.startsWith('dist/')).every((f) => f.endsWith('.js')), 'dist holds only compiled JavaScript');
    assert.ok(files.some((f) => f.startsWith('dist/cli/')) && files.some((f) => f.startsWith('dist/mcp/')), 'the CLI and the MCP server are both packed');
  });

  it('has the metadata a published package needs, and builds in prepack (no install script for consumers)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & { scripts: Record<string, string> };
    assert.equal(pkg.license, 'MIT');
    assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
    for (const field of ['repository', 'homepage', 'bugs']) assert.ok(pkg[field], `package.json has ${field}`);
    assert.equal(pkg.scripts.prepare, undefined, 'prepare would run (and need TypeScript) in every project that installs the tarball');
    assert.match(pkg.scripts.prepack ?? '', /npm run build/);
    assert.match(pkg.scripts.test ?? '', /npm run build/, 'npm test still builds first (CI runs npm ci, then npm test)');
    assert.deepEqual(pkg.bin, { 'cf-access-mcp': 'dist/index.js' });
  });
});
