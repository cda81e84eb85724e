import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseJsonc } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { CLIENTS, type ClientId, type Launch, type Scope, type Where } from '../../src/install/clients.js';
import { installInto } from '../../src/install/install.js';
import { cleanupHomes, tempHome } from '../helpers/harness.js';

/**
 * Issue 15 item 5: `install <client>` merges our entry into each client's
 * real config file, keeping every other entry and comment, in temporary
 * home and project directories.
 */

after(cleanupHomes);

const LAUNCH: Launch = { command: '/usr/local/bin/node', args: ['/opt/cf-access-mcp/dist/index.js'], viaNpx: false };

function where(): Where {
  const home = tempHome('cfam-install-home-');
  const cwd = tempHome('cfam-install-project-');
  return { home, cwd, appConfig: join(home, '.config'), xdgConfig: join(home, '.config'), codexHome: join(home, '.codex') };
}

/** An existing file of each kind: another server, unrelated settings, and comments where the format has them. */
function seed(client: ClientId, scope: Scope, w: Where): { file: string; keep: string[] } {
  const file = CLIENTS[client].scopes[scope]!(w).file;
  mkdirSync(dirname(file), { recursive: true });
  if (client === 'codex') {
    writeFileSync(file, '# my codex settings\nmodel = "gpt-5" # the model\n\n[mcp_servers.other]\ncommand = "other-server"\nargs = ["--flag"]\n\n# profiles below\n[profiles.fast]\nmodel = "small"\n');
    return { file, keep: ['# my codex settings', 'model = "gpt-5" # the model', '[mcp_servers.other]', '# profiles below', '[profiles.fast]'] };
  }
  const container = CLIENTS[client].scopes[scope]!(w).container;
  const other = client === 'opencode' ? { type: 'local', command: ['other-server'] } : { command: 'other-server', args: ['--flag'] };
  const nested = container.reduceRight<unknown>((inner, key) => ({ [key]: inner }), { other });
  const body = JSON.stringify({ theme: 'dark', ...(nested as object) }, null, 4);
  // JSONC: a comment at the top and one inside; JSON clients (Claude's files) get none.
  const commented = client === 'claude-code' || client === 'claude-desktop' || client === 'windsurf' ? body : `// my settings\n${body.replace('"theme"', '/* keep me */ "theme"')}`;
  writeFileSync(file, `${commented}\n`);
  return { file, keep: [...(commented.startsWith('//') ? ['// my settings', '/* keep me */'] : []), '"theme": "dark"', '"other"'] };
}

function entryIn(client: ClientId, scope: Scope, w: Where, file: string): unknown {
  const target = CLIENTS[client].scopes[scope]!(w);
  const text = readFileSync(file, 'utf8');
  let node: unknown = JSON.parse(JSON.stringify(target.format === 'toml' ? parseToml(text) : parseJsonc(text)));
  for (const key of [...target.container, 'cf-access']) node = (node as Record<string, unknown>)?.[key];
  return node;
}

const CASES: Array<[ClientId, Scope]> = [
  ['claude-code', 'user'],
  ['claude-code', 'project'],
  ['claude-code', 'local'],
  ['opencode', 'user'],
  ['opencode', 'project'],
  ['cursor', 'user'],
  ['cursor', 'project'],
  ['vscode', 'user'],
  ['vscode', 'project'],
  ['windsurf', 'user'],
  ['codex', 'user'],
  ['gemini', 'user'],
  ['gemini', 'project'],
  ['claude-desktop', 'user'],
  ['codex', 'project'],
];

describe('install <client> round-trips each client config', () => {
  for (const [client, scope] of CASES) {
    it(`${client} (${scope} scope): adds our entry, keeps the rest, then is idempotent`, async () => {
      const w = where();
      const { file, keep } = seed(client, scope, w);
      const before = readFileSync(file, 'utf8');
      const base = { client, scope, name: 'cf-access', launch: LAUNCH, where: w, force: false };

      const dry = await installInto({ ...base, dryRun: true });
      assert.equal(dry.action, 'added');
      assert.equal(readFileSync(file, 'utf8'), before, '--dry-run writes nothing');
      assert.match(dry.diff, /^\+.*cf-access/m, 'the diff shows the new entry');

      const done = await installInto({ ...base, dryRun: false });
      assert.equal(done.action, 'added');
      assert.equal(done.file, file);
      const text = readFileSync(file, 'utf8');
      for (const kept of keep) assert.ok(text.includes(kept), `kept: ${kept}\n${text}`);
      assert.deepEqual(entryIn(client, scope, w, file), CLIENTS[client].entry(LAUNCH));
      // Only lines were added: everything that was there is still there, in order.
      const removed = done.diff.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'));
      assert.ok(removed.every((l) => /^-\s*[}\]],?$|^-\s*"other": \{|^-\s*\}$|^-\s*$/.test(l) || client === 'codex'), `only brackets/commas re-flowed:\n${removed.join('\n')}`);

      const again = await installInto({ ...base, dryRun: false });
      assert.equal(again.action, 'unchanged');
      assert.equal(readFileSync(file, 'utf8'), text);
    });
  }

  it('creates a missing file (and its directory)', async () => {
    const w = where();
    const outcome = await installInto({ client: 'codex', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false });
    assert.equal(outcome.action, 'created');
    assert.deepEqual(JSON.parse(JSON.stringify(parseToml(readFileSync(join(w.codexHome, 'config.toml'), 'utf8')))), { mcp_servers: { 'cf-access': { command: LAUNCH.command, args: LAUNCH.args, startup_timeout_sec: 60 } } });
  });

  it('refuses to replace a different entry of the same name without --force, and replaces it with --force', async () => {
    for (const client of ['cursor', 'codex'] as const) {
      const w = where();
      await installInto({ client, name: 'cf-access', launch: { command: 'old', args: [], viaNpx: false }, where: w, dryRun: false, force: false });
      const file = CLIENTS[client].scopes.user!(w).file;
      const before = readFileSync(file, 'utf8');
      const refused = await installInto({ client, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false });
      assert.equal(refused.action, 'refused');
      assert.match(refused.next_step, /--force/);
      assert.equal(readFileSync(file, 'utf8'), before);
      const forced = await installInto({ client, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: true });
      assert.equal(forced.action, 'replaced');
      assert.deepEqual(entryIn(client, 'user', w, file), CLIENTS[client].entry(LAUNCH));
    }
  });

  it('codex: replaces our tables in place (sub-tables too), leaving the lines around them byte for byte', async () => {
    const w = where();
    const file = join(w.codexHome, 'config.toml');
    mkdirSync(w.codexHome, { recursive: true });
    const head = '# top\n[mcp_servers.a]\ncommand = "a"\n\n';
    const tail = '# after\n[mcp_servers.z]\ncommand = "z"\n';
    writeFileSync(file, `${head}[mcp_servers."cf-access"]\ncommand = "old"\n\n[mcp_servers.cf-access.env]\nX = "1"\n\n${tail}`);
    await installInto({ client: 'codex', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: true });
    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith(head), text);
    assert.ok(text.endsWith(tail), text);
    assert.doesNotMatch(text, /old/);
    assert.match(text, /^\[mcp_servers\.cf-access\.env\]\nX = "1"\n/m, 'the entry\'s environment is the user\'s: kept');
  });

  it('a re-install keeps the environment the user gave the entry (env, environment, env_vars); same launch plus an environment is "unchanged"', async () => {
    const cases: Array<[ClientId, Record<string, unknown>]> = [
      ['gemini', { env: { CF_ACCESS_MCP_TEAMS: 'myteam.cloudflareaccess.com', CF_ACCESS_CLIENT_SECRET: 'cfast_0123456789abcdef' } }],
      ['opencode', { environment: { CF_ACCESS_MCP_TEAMS: 'myteam.cloudflareaccess.com' } }],
      ['codex', { env_vars: ['CF_ACCESS_CLIENT_ID', 'CF_ACCESS_CLIENT_SECRET'], env: { CF_ACCESS_SERVICE_TOKEN_HOSTS: 'app.example.com' } }],
    ];
    for (const [client, environment] of cases) {
      const w = where();
      const file = CLIENTS[client].scopes.user!(w).file;
      const old = { command: 'old', args: [], viaNpx: false };
      await installInto({ client, name: 'cf-access', launch: old, where: w, dryRun: false, force: false });
      // The user adds the environment by hand, as the README says.
      const withEnv = { ...CLIENTS[client].entry(old), ...environment };
      if (client === 'codex') writeFileSync(file, `[mcp_servers.cf-access]\ncommand = "old"\nargs = []\nstartup_timeout_sec = 60\nenv_vars = ["CF_ACCESS_CLIENT_ID", "CF_ACCESS_CLIENT_SECRET"]\n\n[mcp_servers.cf-access.env]\nCF_ACCESS_SERVICE_TOKEN_HOSTS = "app.example.com"\n`);
      else writeFileSync(file, JSON.stringify({ [CLIENTS[client].scopes.user!(w).container[0]!]: { 'cf-access': withEnv } }, null, 2));
      assert.deepEqual(entryIn(client, 'user', w, file), withEnv);
      assert.equal((await installInto({ client, name: 'cf-access', launch: old, where: w, dryRun: false, force: false })).action, 'unchanged', `${client}: our launch plus the user's environment is this server`);
      const refused = await installInto({ client, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false });
      assert.equal(refused.action, 'refused');
      assert.match(refused.next_step, /environment.*is kept/);
      const forced = await installInto({ client, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: true });
      assert.equal(forced.action, 'replaced');
      assert.deepEqual(entryIn(client, 'user', w, file), { ...CLIENTS[client].entry(LAUNCH), ...environment }, `${client}: the new launch, the user's environment`);
    }
  });

  it('codex: a header line inside a multi-line string is not taken for our table; the valid file is left alone without being called invalid', async () => {
    const w = where();
    const file = join(w.codexHome, 'config.toml');
    mkdirSync(w.codexHome, { recursive: true });
    const original = 'notes = """\n[mcp_servers.cf-access]\ncommand = "x"\n"""\n';
    writeFileSync(file, original);
    await assert.rejects(installInto({ client: 'codex', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: true }), (error: Error) => {
      assert.doesNotMatch(error.message, /is not valid TOML/);
      assert.match(error.message, /in a form this command does not edit.*left unchanged/);
      return true;
    });
    assert.equal(readFileSync(file, 'utf8'), original);
  });

  it('leaves an invalid file alone and says so', async () => {
    const w = where();
    const file = join(w.home, '.cursor', 'mcp.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '{ "mcpServers": { broken');
    await assert.rejects(installInto({ client: 'cursor', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false }), /is not valid JSON .* left unchanged/);
    assert.equal(readFileSync(file, 'utf8'), '{ "mcpServers": { broken');
  });

  it('opencode edits opencode.jsonc when that is the file in use', async () => {
    const w = where();
    writeFileSync(join(w.cwd, 'opencode.jsonc'), '{\n  // project settings\n  "mcp": {},\n}\n');
    const outcome = await installInto({ client: 'opencode', scope: 'project', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false });
    assert.equal(outcome.file, join(w.cwd, 'opencode.jsonc'));
    assert.match(readFileSync(outcome.file, 'utf8'), /\/\/ project settings[\s\S]*"cf-access"/);
  });
});

describe('install <client> changes only the bytes of our entry in a JSON file', () => {
  const install = (w: Where, client: ClientId = 'gemini') => installInto({ client, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: true });
  const settings = (w: Where) => join(w.home, '.gemini', 'settings.json');
  function write(w: Where, text: string): string {
    mkdirSync(dirname(settings(w)), { recursive: true });
    writeFileSync(settings(w), text);
    return text;
  }

  it('leaves a neighbour written on one line, comments and trailing commas as they were', async () => {
    for (const [head, tail] of [
      ['{\n  // mine\n  "theme": "dark",\n  "mcpServers": {\n    "gh": {"command": "gh-mcp", "env": {"X": "1"}}', '\n  }\n}\n'],
      ['{\n  "mcpServers": {\n    "gh": {"command": "gh-mcp"},', '\n  },\n}\n'],
      ['{\n\t"mcpServers": {\n\t\t"gh": { "command": "gh-mcp" }, // the GitHub one', '\n\t}\n}\n'],
    ] as const) {
      const w = where();
      write(w, `${head}${tail}`);
      await install(w);
      const text = readFileSync(settings(w), 'utf8');
      assert.ok(text.startsWith(head), `the lines before ours stay byte for byte:\n${text}`);
      assert.ok(text.endsWith(tail), `the lines after ours stay byte for byte:\n${text}`);
      assert.deepEqual(entryIn('gemini', 'user', w, settings(w)), CLIENTS.gemini.entry(LAUNCH));
      assert.equal((await install(w)).action, 'unchanged');
    }
    const w = where();
    write(w, '{\n  "mcpServers": {\n    "gh": {"command": "gh"} // the GitHub one\n  }\n}\n');
    await install(w);
    assert.match(readFileSync(settings(w), 'utf8'), /^ {4}"gh": \{"command": "gh"\}, \/\/ the GitHub one\n {4}"cf-access": \{$/m, 'a comma after the last member, its comment stays on its line');
  });

  it('replaces an existing entry where it stands; fills an empty or comment-only object; adds to a one-line file', async () => {
    const w = where();
    write(w, '{\n  "mcpServers": {\n    "a": {"command": "a"},\n    "cf-access": {"command": "old"},\n    "z": {"command": "z"}\n  }\n}\n');
    await install(w);
    const text = readFileSync(settings(w), 'utf8');
    assert.ok(text.startsWith('{\n  "mcpServers": {\n    "a": {"command": "a"},\n    "cf-access": {\n'), text);
    assert.ok(text.endsWith('},\n    "z": {"command": "z"}\n  }\n}\n'), text);
    for (const original of ['{"mcpServers": {}}', '{\n  "mcpServers": { /* none yet */ }\n}\n', '{"theme": "dark", "mcpServers": {"gh": {"command": "gh"}}}', '{"theme": "dark"}']) {
      const v = where();
      write(v, original);
      await install(v);
      const after = readFileSync(settings(v), 'utf8');
      assert.deepEqual(entryIn('gemini', 'user', v, settings(v)), CLIENTS.gemini.entry(LAUNCH), after);
      if (original.includes('none yet')) assert.match(after, /\/\* none yet \*\//);
      if (original.includes('"gh"')) assert.ok(after.includes('"gh": {"command": "gh"}'), after);
    }
  });

  it('a file with a byte order mark (a Windows editor wrote it) is edited, and keeps its mark and CRLF line ends', async () => {
    const w = where();
    write(w, '\uFEFF{\r\n  "theme": "dark"\r\n}\r\n');
    assert.equal((await install(w)).action, 'added');
    const text = readFileSync(settings(w), 'utf8');
    assert.ok(text.startsWith('\uFEFF{\r\n  "theme": "dark",\r\n  "mcpServers": {\r\n'), JSON.stringify(text));
    assert.doesNotMatch(text.replace(/\r\n/g, ''), /\n/, 'CRLF throughout');
    assert.deepEqual(entryIn('gemini', 'user', w, settings(w)), CLIENTS.gemini.entry(LAUNCH));
    assert.equal((await install(w)).action, 'unchanged');
  });

  it('a servers key that is not an object: the file is left alone, with an error that names the key', async () => {
    for (const value of ['null', '[]', '"x"']) {
      const w = where();
      const original = write(w, `{"mcpServers": ${value}}\n`);
      await assert.rejects(install(w), (error: Error) => error.name === 'ConfigFileError' && /"mcpServers" as .*not an object of servers; it was left unchanged/.test(error.message));
      assert.equal(readFileSync(settings(w), 'utf8'), original);
    }
  });
});

describe('install <client> writes through a symbolic link', () => {
  it('a config kept in a dotfiles repository stays a link, and the file it points to gets the entry', async () => {
    const w = where();
    const dotfiles = tempHome('cfam-install-dotfiles-');
    const real = join(dotfiles, 'gemini-settings.json');
    writeFileSync(real, '{\n  "theme": "dark"\n}\n', { mode: 0o600 });
    const link = join(w.home, '.gemini', 'settings.json');
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(real, link);
    const outcome = await installInto({ client: 'gemini', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false });
    assert.equal(outcome.action, 'added');
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
    assert.equal(readlinkSync(link), real);
    assert.deepEqual(entryIn('gemini', 'user', w, real), CLIENTS.gemini.entry(LAUNCH));
    assert.equal(statSync(real).mode & 0o777, 0o600, 'the mode of the file it points to is kept');
    assert.deepEqual(readdirSync(dotfiles), ['gemini-settings.json'], 'no temporary file left');
  });

  it('a directory on the way that cannot be made is an install error naming the file, not a crash', async () => {
    const w = where();
    symlinkSync(join(w.home, 'missing-target'), join(w.home, '.cursor'));
    await assert.rejects(installInto({ client: 'cursor', name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false }), (error: Error) => error.name === 'InstallError' && /Could not write .*\.cursor/.test(error.message));
  });
});

describe('install <client> masks what it shows, not what it writes', () => {
  const install = (w: Where, client: ClientId, extra: Partial<Parameters<typeof installInto>[0]> = {}) =>
    installInto({ client, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: true, ...extra });

  /** Each case: a neighbour line within the diff's context (right before our entry), and the credential it must not show. */
  const CASES: Array<[string, string, string]> = [
    ['a token after --token in args', '"gh": {"command": "gh", "args": ["--token", "ghp_ArgToken0123456789abcdef"]},', 'ghp_ArgToken0123456789abcdef'],
    ['--api-key=value', '"gh": {"command": "gh", "args": ["--api-key=flagValue99"]},', 'flagValue99'],
    ['a token-shaped argument', '"chat": {"command": "slack-mcp", "args": ["xoxb-2400-1234-AbCdEfGhIj"]},', 'xoxb-2400-1234-AbCdEfGhIj'],
    ['api_key= in a URL', '"remote": {"url": "https://mcp.example.com/?api_key=urlKey0042"},', 'urlKey0042'],
    ['a URL password', '"db": {"command": "db", "args": ["https://me:userinfoPass77@db.example.com/"]},', 'userinfoPass77'],
    ['a password in DATABASE_URL', '"db": {"command": "db", "env": {"DATABASE_URL": "postgres://u:dbPw0099@h/db"}},', 'dbPw0099'],
    ['a commented-out env line', '// "env": {"GITHUB_TOKEN": "ghp_CommentedOut0123456789ab"},', 'ghp_CommentedOut0123456789ab'],
    ['a commented-out argument', '/* "args": ["--password", "commentPw55"] */', 'commentPw55'],
    ['a short value under a secret key', '"x": {"command": "x", "env": {"API_KEY": "Qz7xw"}},', 'Qz7xw'],
    ['a value in headers', '"x": {"url": "https://x.example.com/", "headers": {"X-Custom": "hdrV4lue"}},', 'hdrV4lue'],
  ];

  for (const [what, line, secret] of CASES) {
    it(`${what}: masked in the diff, kept in the file`, async () => {
      const w = where();
      const file = join(w.home, '.gemini', 'settings.json');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `{\n  "mcpServers": {\n    ${line}\n    "cf-access": {"command": "old"}\n  }\n}\n`);
      const outcome = await install(w, 'gemini', { dryRun: true });
      assert.ok(outcome.diff.includes('[redacted]'), `the masked line is among the context lines:\n${outcome.diff}`);
      assert.ok(!JSON.stringify(outcome).includes(secret), `shown:\n${outcome.diff}`);
      await install(w, 'gemini');
      assert.ok(readFileSync(file, 'utf8').includes(secret), 'the file keeps the real value');
    });
  }

  it('codex: a neighbour table and commented-out lines in context are masked; our CF_ACCESS_MCP_TEAMS stays readable; lines stay lines', async () => {
    const w = where();
    const file = join(w.codexHome, 'config.toml');
    mkdirSync(w.codexHome, { recursive: true });
    writeFileSync(
      file,
      '[mcp_servers.gh]\nargs = ["--token", \'ghp_ArgToken0123456789abcdef\']\n# GITHUB_TOKEN = "ghp_CommentedOut0123456789ab"\n[mcp_servers.cf-access]\ncommand = "old"\n\n[mcp_servers.cf-access.env]\nCF_ACCESS_MCP_TEAMS = "myteam.cloudflareaccess.com"\nCF_ACCESS_CLIENT_SECRET = "Qz7xw"\n',
    );
    const outcome = await install(w, 'codex', { dryRun: true });
    for (const secret of ['ghp_ArgToken', 'ghp_CommentedOut', 'Qz7xw']) assert.ok(!JSON.stringify(outcome).includes(secret), outcome.diff);
    assert.match(outcome.diff, /^ args = \["--token", "\[redacted\]"\]$/m);
    assert.match(outcome.diff, /^ # GITHUB_TOKEN = "\[redacted\]"$/m);
    assert.match(outcome.diff, /^ CF_ACCESS_MCP_TEAMS = "myteam\.cloudflareaccess\.com"$/m);
    assert.deepEqual(outcome.entry.env, { CF_ACCESS_MCP_TEAMS: 'myteam.cloudflareaccess.com', CF_ACCESS_CLIENT_SECRET: '[redacted]' });
  });
});

describe('install <client> never follows a link in the project directory', () => {
  it('project scope: a config file or directory that is a link is refused before it is read; nothing is written', async () => {
    for (const [client, linked] of [
      ['claude-code', '.mcp.json'],
      ['vscode', '.vscode'],
      ['cursor', '.cursor'],
      ['gemini', join('.gemini', 'settings.json')],
      ['codex', '.codex'],
      ['opencode', 'opencode.json'],
    ] as const) {
      const w = where();
      const elsewhere = tempHome('cfam-install-elsewhere-');
      const target = linked.endsWith('.json') ? join(elsewhere, 'target.json') : elsewhere;
      if (linked.endsWith('.json')) writeFileSync(target, '{}\n');
      mkdirSync(dirname(join(w.cwd, linked)), { recursive: true });
      symlinkSync(target, join(w.cwd, linked));
      for (const dryRun of [true, false]) {
        await assert.rejects(installInto({ client, scope: 'project', name: 'cf-access', launch: LAUNCH, where: w, dryRun, force: true }), (error: Error & { nextStep?: string }) => {
          assert.equal(error.name, 'InstallError');
          assert.ok(error.message.startsWith(`${join(w.cwd, linked)} is a symbolic link to ${target}`), error.message);
          assert.match(error.nextStep ?? '', /replace .* with a regular (file|directory).*--scope user/);
          return true;
        });
      }
      assert.deepEqual(readdirSync(elsewhere), linked.endsWith('.json') ? ['target.json'] : [], `${client}: nothing written where the link points`);
      if (linked.endsWith('.json')) assert.equal(readFileSync(target, 'utf8'), '{}\n');
    }
  });

  it('user and local scope (files in the home directory) follow a link, and name the file written', async () => {
    for (const scope of ['user', 'local'] as const) {
      const w = where();
      const dotfiles = tempHome('cfam-install-dotfiles-');
      writeFileSync(join(dotfiles, 'claude.json'), '{}\n');
      symlinkSync(join(dotfiles, 'claude.json'), join(w.home, '.claude.json'));
      const outcome = await installInto({ client: 'claude-code', scope, name: 'cf-access', launch: LAUNCH, where: w, dryRun: false, force: false });
      assert.equal(outcome.file, join(w.home, '.claude.json'));
      assert.equal(outcome.real_file, join(dotfiles, 'claude.json'));
      assert.match(readFileSync(join(dotfiles, 'claude.json'), 'utf8'), /"cf-access"/);
      assert.ok(lstatSync(join(w.home, '.claude.json')).isSymbolicLink());
    }
    const plain = where();
    assert.equal((await installInto({ client: 'cursor', name: 'cf-access', launch: LAUNCH, where: plain, dryRun: false, force: false })).real_file, undefined, 'no link: no second name');
  });
});
