import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLIENTS } from '../../src/install/clients.js';
import { runCli } from '../helpers/cli-run.js';
import { cleanupHomes, SERVER_ENTRY, tempHome } from '../helpers/harness.js';

/** Issue 15 item 5 through the built CLI: diff on stdout, --dry-run, refusal without --force, --json. */

after(cleanupHomes);

function env(home: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), CODEX_HOME: join(home, '.codex') };
}

describe('cf-access-mcp install', () => {
  it('prints the diff, writes only without --dry-run, starts this installation by absolute path', async () => {
    const home = tempHome('cfam-install-cli-');
    const file = join(home, '.codex', 'config.toml');
    const dry = await runCli(['install', 'codex', '--dry-run'], env(home));
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout.toString('utf8'), /^\+\[mcp_servers\.cf-access\]$/m);
    assert.match(dry.stdout.toString('utf8'), /^\+startup_timeout_sec = 60$/m);
    assert.match(dry.stderr, /Would have: Created/);
    assert.equal(existsSync(file), false);

    const done = await runCli(['install', 'codex'], env(home));
    assert.equal(done.code, 0, done.stderr);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.includes(JSON.stringify(realpathSync(SERVER_ENTRY))), text);
    assert.ok(text.includes(JSON.stringify(process.execPath)), text);
    assert.match(done.stderr, /next step: Start a new Codex session/);
  });

  it('refuses a different entry of the same name (exit 1) unless --force; --npx writes the registry form', async () => {
    const home = tempHome('cfam-install-cli-');
    assert.equal((await runCli(['install', 'gemini'], env(home))).code, 0);
    const refused = await runCli(['install', 'gemini', '--npx'], env(home));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /already has a different "cf-access" server/);
    const forced = JSON.parse((await runCli(['install', 'gemini', '--npx', '--force', '--json'], env(home))).stdout.toString('utf8')) as Record<string, unknown>;
    assert.equal(forced.action, 'replaced');
    const settings = JSON.parse(readFileSync(join(home, '.gemini', 'settings.json'), 'utf8')) as { mcpServers: Record<string, unknown> };
    assert.deepEqual(settings.mcpServers['cf-access'], { command: 'npx', args: ['-y', 'cf-access-mcp'] });
  });

  it('never prints a credential the config file holds: not in the diff (changed lines or context), not in --json', async () => {
    const secret = 'cfast_0123456789abcdef0123456789abcdef';
    const neighbour = 'ghp_NeighbourToken0123456789';
    const home = tempHome('cfam-install-cli-');
    mkdirSync(join(home, '.codex'));
    writeFileSync(
      join(home, '.codex', 'config.toml'),
      `[mcp_servers.gh]\ncommand = "gh"\nenv = { GITHUB_TOKEN = "${neighbour}" }\n\n[mcp_servers.cf-access]\ncommand = "old"\n\n[mcp_servers.cf-access.env]\nCF_ACCESS_CLIENT_ID = "id.access"\nCF_ACCESS_CLIENT_SECRET = "${secret}"\n`,
    );
    mkdirSync(join(home, '.gemini'));
    writeFileSync(
      join(home, '.gemini', 'settings.json'),
      `{\n  "mcpServers": {\n    "gh": {"command": "gh", "env": {"GITHUB_TOKEN": "${neighbour}"}},\n    "cf-access": {"command": "old", "env": {"CF_ACCESS_CLIENT_SECRET": "${secret}"}, "headers": {"Authorization": "Bearer ${neighbour}"}}\n  }\n}\n`,
    );
    for (const client of ['codex', 'gemini']) {
      for (const flags of [[], ['--json'], ['--force', '--dry-run'], ['--force', '--dry-run', '--json']]) {
        const run = await runCli(['install', client, ...flags], env(home));
        const shown = run.stdout.toString('utf8') + run.stderr;
        assert.match(shown, /cf-access/, `${client} ${flags.join(' ')}: something was shown`);
        assert.ok(!shown.includes(secret) && !shown.includes(neighbour), `${client} ${flags.join(' ')} printed a credential:\n${shown}`);
        if (flags.includes('--json')) assert.ok(JSON.stringify((JSON.parse(run.stdout.toString('utf8')) as { existing: unknown }).existing).includes('[redacted]'));
      }
    }
  });

  it('masks credentials wherever they stand: arguments, URLs, commented-out lines, short values, a whole env and headers; the file keeps them', async () => {
    // Each a credential the old masking (values under secret-looking keys, 8 characters or more) printed.
    const secrets = {
      argToken: 'ghp_ArgumentToken0123456789abcdefAB',
      flagEquals: 'flagEqualsValue42',
      urlKey: 'urlQueryKey0042',
      urlPassword: 'userinfoPass77',
      dbPassword: 'dbPw0099',
      commentToken: 'ghp_CommentedOut0123456789abcdefAB',
      commentPassword: 'commentPw55',
      shortSecret: 'Qz7xw',
      slack: 'xoxb-2400-1234-AbCdEfGhIj',
      plainEnv: 'plainEnvValue31',
      header: 'X9hdrV4lue',
    };
    const home = tempHome('cfam-install-cli-');
    mkdirSync(join(home, '.gemini'));
    // Every neighbour and comment within the diff's three context lines of our entry.
    const gemini = `{
  "mcpServers": {
    "chat": {"command": ["slack-mcp", "${secrets.slack}"], "env": {"API_KEY": "${secrets.shortSecret}"}},
    // "env": {"GITHUB_TOKEN": "${secrets.commentToken}"},
    /* old: --password ${secrets.commentPassword} */
    "cf-access": {"command": "old", "env": {"CF_ACCESS_MCP_TEAMS": "myteam.cloudflareaccess.com", "CF_ACCESS_CLIENT_SECRET": "${secrets.shortSecret}"}},
    "gh": {"command": "gh-mcp", "args": ["--token", "${secrets.argToken}", "--api-key=${secrets.flagEquals}", "https://api.example.com/mcp?api_key=${secrets.urlKey}"]},
    "db": {"command": "db-mcp", "args": ["https://me:${secrets.urlPassword}@db.example.com/"], "env": {"DATABASE_URL": "postgres://u:${secrets.dbPassword}@h/db", "REGION": "${secrets.plainEnv}"}, "headers": {"X-Custom": "${secrets.header}"}}
  }
}
`;
    writeFileSync(join(home, '.gemini', 'settings.json'), gemini);
    mkdirSync(join(home, '.codex'));
    // The old entry's header is written quoted, so it changes and the three lines above it are context.
    const codex = `[mcp_servers.gh]
args = ["--token", '${secrets.argToken}', "--api-key=${secrets.flagEquals}", "https://api.example.com/?token=${secrets.urlKey}"] # args = ["--password", "${secrets.commentPassword}"]
env = { DATABASE_URL = "postgres://u:${secrets.dbPassword}@h/db", REGION = "${secrets.plainEnv}", API_KEY = "${secrets.shortSecret}" } # GITHUB_TOKEN = "${secrets.commentToken}"
http_headers = { X-Custom = "${secrets.header}", X-Other = "https://me:${secrets.urlPassword}@db.example.com/" }
[mcp_servers."cf-access"]
command = ["slack-mcp", "${secrets.slack}"]

[mcp_servers."cf-access".env]
CF_ACCESS_MCP_TEAMS = "myteam.cloudflareaccess.com"
CF_ACCESS_CLIENT_SECRET = "${secrets.shortSecret}"
`;
    writeFileSync(join(home, '.codex', 'config.toml'), codex);
    for (const client of ['gemini', 'codex']) {
      for (const flags of [['--force', '--dry-run'], ['--force', '--dry-run', '--json'], ['--json']]) {
        const run = await runCli(['install', client, ...flags], env(home));
        const stdout = run.stdout.toString('utf8');
        const shown = stdout + run.stderr;
        for (const [what, secret] of Object.entries(secrets)) assert.ok(!shown.includes(secret), `${client} ${flags.join(' ')} printed ${what}:\n${shown}`);
        const diff = flags.includes('--json') ? (JSON.parse(stdout) as { diff: string }).diff : stdout;
        if (flags.includes('--force')) {
          assert.match(diff, /CF_ACCESS_MCP_TEAMS"? *[:=] *"myteam\.cloudflareaccess\.com"/, `our non-secret setting stays readable:\n${diff}`);
          assert.match(diff, /"--token", "\[redacted\]"/, `a masked value keeps its line:\n${diff}`);
          assert.match(diff, /postgres:\/\/u:\[redacted\]@h\/db|DATABASE_URL"? *[:=] *"\[redacted\]"/, diff);
          assert.match(diff, /(?:\/\/|#) .*GITHUB_TOKEN.*\[redacted\]/, `the commented-out line is shown, masked:\n${diff}`);
        } else {
          assert.equal(run.code, 1, 'refused without --force');
          assert.ok(JSON.stringify((JSON.parse(stdout) as { existing: unknown }).existing).includes('[redacted]'));
        }
      }
    }
    assert.equal(readFileSync(join(home, '.gemini', 'settings.json'), 'utf8'), gemini, 'nothing written in a dry run');
    assert.equal((await runCli(['install', 'codex', '--force'], env(home))).code, 0);
    const written = readFileSync(join(home, '.codex', 'config.toml'), 'utf8');
    for (const secret of Object.values(secrets).filter((s) => s !== secrets.slack)) assert.ok(written.includes(secret), `the file keeps ${secret}`);
  });

  it('a project config that is a symbolic link (file or directory) is refused, read and written through never; a user config link is followed and named', async () => {
    const home = tempHome('cfam-install-cli-');
    const project = tempHome('cfam-install-project-');
    const elsewhere = tempHome('cfam-install-elsewhere-');
    const target = join(elsewhere, 'authorized.json');
    const original = '{"mcpServers": {"gh": {"command": "gh", "env": {"GITHUB_TOKEN": "ghp_ElsewhereSecret0123456789abcd"}}}}\n';
    writeFileSync(target, original);
    symlinkSync(target, join(project, '.mcp.json'));
    mkdirSync(join(elsewhere, 'dot-vscode'));
    symlinkSync(join(elsewhere, 'dot-vscode'), join(project, '.vscode'));
    for (const [client, link, real] of [
      ['claude-code', join(project, '.mcp.json'), target],
      ['vscode', join(project, '.vscode'), join(elsewhere, 'dot-vscode')],
    ] as const) {
      for (const flags of [[], ['--dry-run'], ['--force', '--json']]) {
        const run = await runCli(['install', client, '--scope', 'project', ...flags], env(home), project);
        assert.equal(run.code, 1, run.stderr);
        // With --json the refusal is the one document on stdout; either way no diff of the file the link points to.
        const said = flags.includes('--json') ? (JSON.parse(run.stdout.toString('utf8')) as { error: string; message: string; next_step: string }) : undefined;
        if (said) assert.equal(said.error, 'install_failed');
        else assert.equal(run.stdout.toString('utf8'), '', 'no diff of the file the link points to');
        const message = said ? `${said.message}\nnext step: ${said.next_step}` : run.stderr;
        assert.ok(message.includes(`${link} is a symbolic link to ${realpathSync(real)}`), message);
        assert.match(message, /next step: replace .* with a regular (file|directory).*--scope user/);
        assert.doesNotMatch(run.stdout.toString('utf8') + run.stderr, /ElsewhereSecret/);
      }
    }
    assert.equal(readFileSync(target, 'utf8'), original, 'the file the link points to is unchanged');
    assert.ok(lstatSync(join(project, '.mcp.json')).isSymbolicLink());
    assert.equal(existsSync(join(elsewhere, 'dot-vscode', 'mcp.json')), false, 'nothing written through the linked directory');

    // User scope: a dotfiles link is followed, and the output names the file written.
    const dotfiles = tempHome('cfam-install-dotfiles-');
    writeFileSync(join(dotfiles, 'gemini.json'), '{}\n');
    mkdirSync(join(home, '.gemini'));
    symlinkSync(join(dotfiles, 'gemini.json'), join(home, '.gemini', 'settings.json'));
    const user = await runCli(['install', 'gemini'], env(home), project);
    assert.equal(user.code, 0, user.stderr);
    assert.ok(user.stderr.includes(`${join(home, '.gemini', 'settings.json')} (through a symbolic link: ${realpathSync(join(dotfiles, 'gemini.json'))})`), user.stderr);
    assert.match(readFileSync(join(dotfiles, 'gemini.json'), 'utf8'), /"cf-access"/);
    const json = JSON.parse((await runCli(['install', 'gemini', '--json'], env(home), project)).stdout.toString('utf8')) as { real_file?: string };
    assert.equal(json.real_file, realpathSync(join(dotfiles, 'gemini.json')));
  });

  it('usage errors: unknown client, a scope the client does not have', async () => {
    const home = tempHome('cfam-install-cli-');
    const help = (await runCli(['install', '--help'], env(home))).stdout.toString('utf8').replace(/\s+/g, ' ');
    const projectClients = (Object.keys(CLIENTS) as Array<keyof typeof CLIENTS>).filter((client) => CLIENTS[client].scopes.project);
    assert.ok(help.includes(`project (a file in the current directory; ${projectClients.join(', ')})`), `--help names every client with a project scope:\n${help}`);
    const unknown = await runCli(['install', 'emacs'], env(home));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown client "emacs"; one of: claude-code, opencode/);
    const scope = await runCli(['install', 'windsurf', '--scope', 'project'], env(home));
    assert.equal(scope.code, 2);
    assert.match(scope.stderr, /Windsurf has no project scope/);
  });
});
