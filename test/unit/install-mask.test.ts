import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseJsonc } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { configLiterals } from '../../src/install/literals.js';
import { maskedView } from '../../src/install/mask.js';

/**
 * What `install` shows of a client's config (the diff, --json): every
 * credential masked where it stands, line for line, the rest readable.
 */

const OURS = ['mcpServers', 'cf-access'];
/** The file as shown (the diff's lines). */
const asShown = (format: 'json' | 'toml', text: string, ours: string[]) => maskedView(format, text, '', ours).render((before) => before);
const shownJson = (text: string) => asShown('json', text, OURS);
const shownToml = (text: string) => asShown('toml', text, ['mcp_servers', 'cf-access']);
const lines = (text: string) => text.split('\n').length;
/** smol-toml's objects have no prototype: plain ones, to compare. */
const toml = (text: string): unknown => JSON.parse(JSON.stringify(parseToml(text)));

describe('install masking: arguments', () => {
  it('a value after a secret-looking flag, --flag=value, and token-shaped arguments', () => {
    const cases: Array<[string[], string[]]> = [
      [['--token', 'ghp_0123456789abcdefABCDEF'], ['--token', '[redacted]']],
      [['--api-key', 'short'], ['--api-key', '[redacted]']],
      [['--password', 'pw'], ['--password', '[redacted]']],
      [['-H', 'X-Api: v4lue'], ['-H', '[redacted]']],
      [['--api-key=k3y'], ['--api-key=[redacted]']],
      [['--auth-token=abc123'], ['--auth-token=[redacted]']],
      [['-e', 'DB=postgres'], ['-e', 'DB=[redacted]']],
      [['-e', 'GITHUB_TOKEN'], ['-e', 'GITHUB_TOKEN']],
      [['ghp_0123456789abcdefABCDEF'], ['[redacted]']],
      [['sk-proj-0123456789abcdefghij'], ['[redacted]']],
      [['xoxb-1234-5678-abcdefgh'], ['[redacted]']],
      [['Authorization: Bearer abcdefgh12345678'], ['Authorization: Bearer [redacted]']],
      [['q8Xz3Lp0Vn7Rt2Wm9Ks4Hd6Jf1'], ['[redacted]']],
      [['--verbose', '-y', '@modelcontextprotocol/server-filesystem', '/home/me/projects/project2/node_modules/cf-access-mcp/dist/index.js', 'ghcr.io/github/github-mcp-server:latest'], ['--verbose', '-y', '@modelcontextprotocol/server-filesystem', '/home/me/projects/project2/node_modules/cf-access-mcp/dist/index.js', 'ghcr.io/github/github-mcp-server:latest']],
    ];
    for (const [args, shown] of cases) {
      const text = `{\n  "mcpServers": {\n    "x": {\n      "args": ${JSON.stringify(args)}\n    }\n  }\n}\n`;
      const masked = shownJson(text);
      assert.deepEqual((parseJsonc(masked) as { mcpServers: { x: { args: string[] } } }).mcpServers.x.args, shown, masked);
      assert.equal(lines(masked), lines(text));
      // The same array in TOML, in OpenCode's command array, and as --json shows an entry.
      const inToml = shownToml(`[mcp_servers.x]\nargs = ${JSON.stringify(args)}\n`);
      assert.deepEqual((toml(inToml) as { mcp_servers: { x: { args: string[] } } }).mcp_servers.x.args, shown, inToml);
      const opencode = maskedView('json', '', '', ['mcp', 'cf-access']).value({ type: 'local', command: ['srv', ...args] }, ['mcp', 'other']);
      assert.deepEqual(opencode.command, ['srv', ...shown]);
    }
  });
});

describe('install masking: URLs', () => {
  it('a password in the userinfo and secret-looking query parameters; the rest stays', () => {
    const cases: Array<[string, string]> = [
      ['https://user:pass@host.example.com/x', 'https://user:[redacted]@host.example.com/x'],
      ['postgres://u:p@h/db', 'postgres://u:[redacted]@h/db'],
      ['https://api.example.com/mcp?api_key=abc&x=1', 'https://api.example.com/mcp?api_key=[redacted]&x=1'],
      ['https://x.example.com/?token=t0k&sig=s1g&access_token=a', 'https://x.example.com/?token=[redacted]&sig=[redacted]&access_token=[redacted]'],
      ['https://x.example.com/#password=pw', 'https://x.example.com/#password=[redacted]'],
      ['https://mcp.example.com/sse?client=cursor', 'https://mcp.example.com/sse?client=cursor'],
    ];
    for (const [url, shown] of cases) {
      const masked = shownJson(JSON.stringify({ mcpServers: { x: { url, args: [url] } } }));
      assert.deepEqual((parseJsonc(masked) as { mcpServers: { x: unknown } }).mcpServers.x, { url: shown, args: [shown] }, masked);
    }
  });
});

describe('install masking: where credentials live', () => {
  it('every value in env, environment, env_vars (an object), headers and http_headers, whatever its name and length', () => {
    const entry = {
      env: { DATABASE_URL: 'postgres://u:p@h/db', DEBUG: '1', PORT: 5432 },
      environment: { REGION: 'eu' },
      env_vars: { FORWARDED: 'x' },
      headers: { 'X-Custom': 'v' },
      http_headers: { 'X-Other': 'w' },
      command: 'srv',
      enabled: true,
    };
    const masked = parseJsonc(shownJson(JSON.stringify({ mcpServers: { other: entry } }))) as { mcpServers: { other: unknown } };
    assert.deepEqual(masked.mcpServers.other, {
      env: { DATABASE_URL: '[redacted]', DEBUG: '[redacted]', PORT: '[redacted]' },
      environment: { REGION: '[redacted]' },
      env_vars: { FORWARDED: '[redacted]' },
      headers: { 'X-Custom': '[redacted]' },
      http_headers: { 'X-Other': '[redacted]' },
      command: 'srv',
      enabled: true,
    });
  });

  it('short values under secret-looking keys anywhere; a count of tokens is not one', () => {
    const masked = parseJsonc(shownJson(JSON.stringify({ password: 'pw', nested: { apiKey: 'k', API_KEY: 'abc', lastTotalInputTokens: 12, pin_password: 1234 } })));
    assert.deepEqual(masked, { password: '[redacted]', nested: { apiKey: '[redacted]', API_KEY: '[redacted]', lastTotalInputTokens: 12, pin_password: '[redacted]' } });
  });

  it('shown: our own CF_ACCESS_MCP_TEAMS and service-token hosts, the names Codex env_vars forwards; not another entry\'s', () => {
    const shown = shownToml(
      '[mcp_servers.cf-access]\nenv_vars = ["CF_ACCESS_CLIENT_ID", "CF_ACCESS_CLIENT_SECRET"]\n\n[mcp_servers.cf-access.env]\nCF_ACCESS_MCP_TEAMS = "myteam.cloudflareaccess.com"\nCF_ACCESS_SERVICE_TOKEN_HOSTS = "app.example.com"\nCF_ACCESS_CLIENT_ID = "id.access"\nCF_ACCESS_CLIENT_SECRET = "s"\n\n[mcp_servers.other.env]\nCF_ACCESS_MCP_TEAMS = "theirs.cloudflareaccess.com"\n',
    );
    assert.deepEqual(toml(shown), {
      mcp_servers: {
        'cf-access': {
          env_vars: ['CF_ACCESS_CLIENT_ID', 'CF_ACCESS_CLIENT_SECRET'],
          env: { CF_ACCESS_MCP_TEAMS: 'myteam.cloudflareaccess.com', CF_ACCESS_SERVICE_TOKEN_HOSTS: 'app.example.com', CF_ACCESS_CLIENT_ID: '[redacted]', CF_ACCESS_CLIENT_SECRET: '[redacted]' },
        },
        other: { env: { CF_ACCESS_MCP_TEAMS: '[redacted]' } },
      },
    });
  });
});

describe('install masking: comments', () => {
  it('a commented-out env line, argument list, URL or token in JSONC and TOML comments', () => {
    const json = shownJson(
      '{\n  // "env": {"GITHUB_TOKEN": "ghp_x", "REGION": "eu"},\n  // "args": ["--token", "abc123"],\n  /* old: --api-key=k3y and postgres://bob:hunter2@db/app\n     sk-proj-0123456789abcdefghij */\n  // keep the theme: dark\n  "theme": "dark"\n}\n',
    );
    assert.equal(
      json,
      '{\n  // "env": {"GITHUB_TOKEN": "[redacted]", "REGION": "[redacted]"},\n  // "args": ["--token", "[redacted]"],\n  /* old: --api-key=[redacted] and postgres://bob:[redacted]@db/app\n     [redacted] */\n  // keep the theme: dark\n  "theme": "dark"\n}\n',
    );
    const commented = shownToml('# GITHUB_TOKEN = "ghp_x"\n# args = ["--password", "pw"]\nmodel = "gpt-5" # API_KEY=abc, the model\n# TOKEN = \'t\'\n');
    assert.equal(commented, '# GITHUB_TOKEN = "[redacted]"\n# args = ["--password", "[redacted]"]\nmodel = "gpt-5" # API_KEY=[redacted], the model\n# TOKEN = \'[redacted]\'\n');
  });
});

describe('install masking: the shape of what is shown', () => {
  it('a credential found once is masked wherever else it appears (a key, an escaped form)', () => {
    const secret = 'cfast_0123456789abcdef';
    const text = `{"mcpServers": {"x": {"env": {"CF_ACCESS_CLIENT_SECRET": "${secret}"}}}, "notes": {"${secret}": "here", "escaped": "cfast\\u005f0123456789abcdef"}}`;
    const masked = shownJson(text);
    assert.ok(text.includes('cfast\\u005f'));
    assert.ok(!masked.includes(secret) && !masked.includes('cfast\\u005f'), masked);
    assert.match(masked, /"notes": \{"\[redacted\]": "here", "escaped": "\[redacted\]"\}/);
  });

  it('TOML: multi-line strings keep their lines; arrays of tables, dotted and quoted keys are followed', () => {
    const text = '[mcp_servers.x]\n"env".TOKEN_A = "a"\nnotes = """\nfirst\n--token abc\n"""\n\n[[mcp_servers.x.list]]\npassword = \'p\'\n[[mcp_servers.x.list]]\npassword = "q"\n[mcp_servers.x.list.env]\nK = "v"\nafter = "visible"\n';
    const masked = shownToml(text);
    assert.equal(lines(masked), lines(text));
    assert.deepEqual(toml(masked), {
      mcp_servers: { x: { env: { TOKEN_A: '[redacted]' }, notes: 'first\n--token [redacted]\n', list: [{ password: '[redacted]' }, { password: '[redacted]', env: { K: '[redacted]', after: '[redacted]' } }] } },
    });
  });

  it('TOML the scanner cannot follow: every value and comment masked, keys and headers kept', () => {
    const masked = shownToml('[mcp_servers.x]\nkey = {{ broken\n# TOKEN = "abc"\n');
    assert.equal(masked, '[mcp_servers.x]\nkey = [redacted]\n [redacted]\n');
  });

  it('the scanner reports each TOML string at the path smol-toml gives it', () => {
    const text = 'a = "1"\nb.c = \'2\'\n"q k" = ["3", { d = "4" }]\n[t]\ne = """\n5"""\n[[u]]\nf = "6"\n[[u]]\nf = "7"\n[u.v]\ng = "8"\n';
    const parsed = JSON.parse(JSON.stringify(parseToml(text))) as Record<string, unknown>;
    for (const literal of configLiterals(text, 'toml').literals) {
      let node: unknown = parsed;
      for (const step of literal.path) node = (node as Record<string | number, unknown>)[step];
      assert.equal(node, literal.value, JSON.stringify(literal.path));
    }
    assert.equal(configLiterals(text, 'toml').literals.length, 8);
  });

  it('readable: launch paths, package names, hosts and ordinary settings are shown as they are', () => {
    const text = JSON.stringify(
      {
        theme: 'dark',
        mcpServers: {
          'cf-access': { type: 'stdio', command: '/home/me/.nvm/versions/node/v20.18.1/bin/node', args: ['/home/me/.npm/_npx/6b4c8f2e1a9d7c3b/node_modules/cf-access-mcp/dist/index.js'] },
          fs: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/me/work'], url: 'https://mcp.example.com/sse?client=cursor', timeout: 30000 },
        },
      },
      null,
      2,
    );
    assert.equal(shownJson(text), text);
  });
});
