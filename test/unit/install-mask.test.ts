import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseJsonc } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { configLiterals } from '../../src/install/literals.js';
import { maskedView, NAME_PATTERNS } from '../../src/install/mask.js';

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
      [['-H=X-Api: v4lue'], ['-H=[redacted]']],
      [['--header=X-Api: v4lue'], ['--header=[redacted]']],
      [['-H="X-Api: v4lue"'], ['-H="[redacted]"']],
      [['-H = "X-Api: v4lue"'], ['-H = "[redacted]"']],
      [['curl -H "X-Api: v4lue" https://api.example.com/'], ['curl -H "[redacted]" https://api.example.com/']],
      [["curl --header 'Authorization: Bearer abcdefgh12345678' -s"], ["curl --header '[redacted]' -s"]],
      [['curl -H X-Api: v4lue https://api.example.com/'], ['curl -H [redacted] https://api.example.com/']],
      [['-h', 'topic'], ['-h', 'topic']],
      [['-HX-Api-Key: v4lue'], ['-H[redacted]']],
      [['-H"X-Api-Key: v4lue s3cr3t"'], ['-H"[redacted]"']],
      [["curl -H'Authorization: Bearer abcdefgh12345678' -s"], ["curl -H'[redacted]' -s"]],
      [['curl -HX-Api: v4lue https://api.example.com/'], ['curl -H[redacted] https://api.example.com/']],
      [['-Hello', 'world'], ['-Hello', 'world']],
      [['curl -H "X-Api-Key: a\\"b s3cr3t" -s'], ['curl -H "[redacted]" -s']],
      [['--api-key=k3y'], ['--api-key=[redacted]']],
      [['--auth-token=abc123'], ['--auth-token=[redacted]']],
      [["--password='hunter2'"], ["--password='[redacted]'"]],
      [['--api-key="shortk"'], ['--api-key="[redacted]"']],
      [["--db-pass='pw12'"], ["--db-pass='[redacted]'"]],
      [['-Dtoken="abc12"'], ['-Dtoken="[redacted]"']],
      [['--password = "hunter2"'], ['--password = "[redacted]"']],
      [['--password = hunter2'], ['--password = [redacted]']],
      [['-e', 'DB=postgres'], ['-e', 'DB=[redacted]']],
      [['-e', 'GITHUB_TOKEN'], ['-e', 'GITHUB_TOKEN']],
      [['ghp_0123456789abcdefABCDEF'], ['[redacted]']],
      [['sk-proj-0123456789abcdefghij'], ['[redacted]']],
      [['xoxb-1234-5678-abcdefgh'], ['[redacted]']],
      [['x-eyJhbGciOiJub25lIn0.eyJzdWIiOiJtZSJ9.c2lnbmF0dXJl'], ['x-[redacted]']],
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
  it('a password in the userinfo, UUID-shaped path segments and every query value; the rest stays', () => {
    const cases: Array<[string, string]> = [
      ['https://user:pass@host.example.com/x', 'https://user:[redacted]@host.example.com/x'],
      ['postgres://u:p@h/db', 'postgres://u:[redacted]@h/db'],
      ['https://api.example.com/mcp?api_key=abc&x=1', 'https://api.example.com/mcp?api_key=[redacted]&x=[redacted]'],
      ['https://x.example.com/?token=t0k&sig=s1g&access_token=a', 'https://x.example.com/?token=[redacted]&sig=[redacted]&access_token=[redacted]'],
      ['https://x.example.com/#password=pw', 'https://x.example.com/#password=[redacted]'],
      ['https://mcp.example.com/sse?client=cursor&customer=c42', 'https://mcp.example.com/sse?client=[redacted]&customer=[redacted]'],
      ['https://mcp.x.com/s/0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b/mcp', 'https://mcp.x.com/s/[redacted]/mcp'],
      ['https://mcp.x.com/s/0F8E4C2A-1B3D-4E5F-8A9B-0C1D2E3F4A5B', 'https://mcp.x.com/s/[redacted]'],
      ['postgres://u:p;w@h/db;role=r', 'postgres://u:[redacted]@h/db;role=[redacted]'],
      ['https://docs.example.com/guide/v2-setup/', 'https://docs.example.com/guide/v2-setup/'],
      ['.https://u:pw@h', '.https://u:[redacted]@h'],
      ['+https://u:pw@h', '+https://u:[redacted]@h'],
      ['--db=postgres://u:pw@h/db', '--db=postgres://u:[redacted]@h/db'],
      ['x_https://u:pw@h', 'x_https://u:[redacted]@h'],
      ['1.https://u:pw@h', '1.https://u:[redacted]@h'],
    ];
    for (const [url, shown] of cases) {
      const masked = shownJson(JSON.stringify({ mcpServers: { x: { url, args: [url] } } }));
      assert.deepEqual((parseJsonc(masked) as { mcpServers: { x: unknown } }).mcpServers.x, { url: shown, args: [shown] }, masked);
    }
  });

  it('in our own entry, only secret-looking query parameters', () => {
    const url = 'https://app.example.com/mcp?client=cursor&token=t0k';
    const entry = maskedView('json', '', '', OURS).value({ args: [url] }, OURS);
    assert.deepEqual(entry, { args: ['https://app.example.com/mcp?client=cursor&token=[redacted]'] });
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

  it('every value under a secret-looking key at any depth; token counts stay; our entry\'s name and project paths do not count', () => {
    const shown = shownToml('[mcp_servers.gh.credentials]\nvalue = "SEKRIT1"\nlist = ["SEKRIT2"]\n[mcp_servers.gh]\ncommand = "gh"\n');
    assert.deepEqual(toml(shown), { mcp_servers: { gh: { credentials: { value: '[redacted]', list: ['[redacted]'] }, command: 'gh' } } });
    const json = parseJsonc(
      shownJson(
        JSON.stringify({
          customApiKeyResponses: { approved: ['Xy12abcdefghijKLMNOP'], rejected: [] },
          mcpServers: { remote: { url: 'https://x.example.com/', auth: { type: 'bearer', value: 'SEKRIT3' } } },
          projects: { '/home/me/auth-service': { mcpServers: { fs: { command: 'npx' } } } },
          oauthAccount: { lastTotalOutputTokens: 7 },
        }),
      ),
    );
    assert.deepEqual(json, {
      customApiKeyResponses: { approved: ['[redacted]'], rejected: [] },
      mcpServers: { remote: { url: 'https://x.example.com/', auth: { type: '[redacted]', value: '[redacted]' } } },
      projects: { '/home/me/auth-service': { mcpServers: { fs: { command: 'npx' } } } },
      oauthAccount: { lastTotalOutputTokens: 7 },
    });
    // Our entry under a name the user chose, in a project named like a secret.
    const ours = ['projects', '/home/me/session-store', 'mcpServers', 'cf-auth'];
    const entry = maskedView('json', '', '', ours).value({ command: '/usr/bin/node', args: ['/opt/cf/dist/index.js'] }, ours);
    assert.deepEqual(entry, { command: '/usr/bin/node', args: ['/opt/cf/dist/index.js'] });
  });

  it('passphrases, one-time codes, PINs and JWTs, as keys, flags and settings; words that merely end in "pin" stay', () => {
    const masked = parseJsonc(shownJson(JSON.stringify({ passphrase: 'p', sms_otp: '1', totp: '2', userPin: '3', pin: '4', PIN_CODE: '5', jwt: 'j', spin: 'round', args: ['--passphrase', 'X1', '--otp', 'X2', '--pin', 'X3', 'passphrase=X4'] })));
    assert.deepEqual(masked, { passphrase: '[redacted]', sms_otp: '[redacted]', totp: '[redacted]', userPin: '[redacted]', pin: '[redacted]', PIN_CODE: '[redacted]', jwt: '[redacted]', spin: 'round', args: ['--passphrase', '[redacted]', '--otp', '[redacted]', '--pin', '[redacted]', 'passphrase=[redacted]'] });
    assert.equal(shownToml('# passphrase = "X5"\n'), '# passphrase = "[redacted]"\n');
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
    const commented = shownToml('# GITHUB_TOKEN = "ghp_x"\n# args = ["--password", "pw"]\nmodel = "gpt-5" # API_KEY=abc, the model\n# TOKEN = \'t\'\n# run --password="hunter2" or -Dtoken=\'abc12\'\n');
    assert.equal(commented, '# GITHUB_TOKEN = "[redacted]"\n# args = ["--password", "[redacted]"]\nmodel = "gpt-5" # API_KEY=[redacted], the model\n# TOKEN = \'[redacted]\'\n# run --password="[redacted]" or -Dtoken=\'[redacted]\'\n');
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

  it('TOML the scanner cannot follow: lines inside multi-line strings are masked whole, whatever they look like', () => {
    const text = '[mcp_servers.x]\nkey = {{ broken\nnotes = """\nPGPASSWORD SEKRIT1 psql --set=x\n[SEKRIT2]\nwords= here\n"""\nraw = \'\'\'\nb.c = SEKRIT3 \'\'\'\n"a"."b" = 1\r\n[t] # comment\n[not a header] x\n[[list]] = 2\nq = "has \\" \\"\\"\\" quotes" # c\nafter = "v"\n';
    assert.equal(
      shownToml(text),
      '[mcp_servers.x]\nkey = [redacted]\nnotes = [redacted]\n [redacted]\n [redacted]\n [redacted]\n [redacted]\nraw = [redacted]\n [redacted]\n"a"."b" = [redacted]\r\n[t] [redacted]\n [redacted]\n [redacted]\nq = [redacted]\nafter = [redacted]\n',
    );
  });

  it('TOML the scanner cannot follow: a line that looks like a header inside an array is a value, masked', () => {
    const text = '[mcp_servers.x]\nkey = {{ broken\nargs = [\n  "a]", # ]\n  \'[\',\n  ["SEKRIT1"]\n]\nnested = [[\n[SEKRIT2]\n], [\n[SEKRIT3]]]\n[t]\nafter = "v"\n';
    assert.equal(
      shownToml(text),
      '[mcp_servers.x]\nkey = [redacted]\nargs = [redacted]\n [redacted]\n [redacted]\n [redacted]\n [redacted]\nnested = [redacted]\n [redacted]\n [redacted]\n [redacted]\n[t]\nafter = [redacted]\n',
    );
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

  it('TOML 1.1 escapes (\\xHH, \\e) in keys and strings are decoded as smol-toml does; an unknown escape is not guessed at', () => {
    const text = '"\\x74oken" = "SEKRIT1"\ncolor = "\\e[1m\\x41"\n[mcp_servers."\\x67h".env]\nK = "v"\n';
    assert.deepEqual(toml(text), { token: 'SEKRIT1', color: '\u001b[1mA', mcp_servers: { gh: { env: { K: 'v' } } } });
    assert.deepEqual(
      configLiterals(text, 'toml').literals.map((literal) => [literal.path, literal.value]),
      [[['token'], 'SEKRIT1'], [['color'], '\u001b[1mA'], [['mcp_servers', 'gh', 'env', 'K'], 'v']],
    );
    assert.equal(shownToml(text), '"\\x74oken" = "[redacted]"\ncolor = "\\e[1m\\x41"\n[mcp_servers."\\x67h".env]\nK = "[redacted]"\n');
    assert.throws(() => configLiterals('a = "\\q"\n', 'toml'), { name: 'TomlScanError' });
  });

  it('TOML dates with a space before the time are followed, not masked whole', () => {
    const text = 'born = 1979-05-27 07:32:00Z\nlocal = 1979-05-27 07:32:00.999\nday = 1979-05-27\ntoken = "SEKRIT1"\nmodel = "gpt-5"\n';
    assert.equal(toml(text) !== undefined, true);
    assert.equal(shownToml(text), 'born = 1979-05-27 07:32:00Z\nlocal = 1979-05-27 07:32:00.999\nday = 1979-05-27\ntoken = "[redacted]"\nmodel = "gpt-5"\n');
  });

  it('readable: launch paths, package names, hosts and ordinary settings are shown as they are', () => {
    const text = JSON.stringify(
      {
        theme: 'dark',
        mcpServers: {
          'cf-access': { type: 'stdio', command: '/home/me/.nvm/versions/node/v20.18.1/bin/node', args: ['/home/me/.npm/_npx/6b4c8f2e1a9d7c3b/node_modules/cf-access-mcp/dist/index.js'] },
          fs: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/me/work'], url: 'https://mcp.example.com/sse', timeout: 30000 },
        },
      },
      null,
      2,
    );
    assert.equal(shownJson(text), text);
  });
});

describe('install masking: any length of text, in linear time', () => {
  it('a string or comment over 64 KB (pasted history) is masked whole, unread; the lines stay', () => {
    const pasted = 'see the notes of the meeting '.repeat(3000);
    const json = shownJson(`{\n  "history": [${JSON.stringify(pasted)}],\n  // ${pasted}\n  /* ${pasted}\n${pasted} */\n  "theme": "dark"\n}\n`);
    assert.equal(json, '{\n  "history": ["[redacted]"],\n  // [redacted]\n  /* [redacted]\n */\n  "theme": "dark"\n}\n');
    assert.equal(shownToml(`notes = ${JSON.stringify(pasted)} # ${pasted}\n`), `notes = "[redacted]" # [redacted]\n`);
  });

  it('long runs of name characters and separators are read as they are', () => {
    for (const run of ['a-'.repeat(20000), '0123456789abcdef'.repeat(2500), 'a.-'.repeat(10000), 'a:'.repeat(20000), '?a'.repeat(20000), 'sk-'.repeat(10000), 'eyJ-'.repeat(10000), '"a'.repeat(10000), '--a'.repeat(10000), '"--a'.repeat(10000), "'-a=".repeat(10000), '.-1'.repeat(10000), '-eyJ'.repeat(10000), '1+'.repeat(20000)]) {
      assert.equal(maskedView('json', '', '', OURS).value({ history: [run] }, []).history[0], run.startsWith('0123') ? '[redacted]' : run);
    }
    assert.equal(maskedView('json', '', '', OURS).value({ note: `https://x.example.com/${'?a'.repeat(20000)}` }, []).note, `https://x.example.com/${'?a'.repeat(20000)}`);
  });

  it('by construction: no pattern that finds a name starts an attempt inside a run of name characters', () => {
    // An attempt from each character of a run rescans the rest of it: quadratic (minutes for Claude's history).
    // Each sample with the characters its name is a run of.
    // A JWT's name characters are word characters: it may follow a dash (x-eyJ…); see the header's own check below.
    const samples: Array<[string, RegExp]> = [
      ['TOKEN: "v"', /[\w.-]/],
      ['--token="v"', /[\w.-]/],
      ["-Dtoken='v'", /[\w.-]/],
      ['TOKEN=v', /[\w.-]/],
      ['--token v', /[\w.-]/],
      ['-HX-Api: v', /[\w.-]/],
      ['https://host.example.com/', /[a-z0-9+.-]/i],
      ['eyJabcdefghij.abcdefghij', /\w/],
    ];
    for (const pattern of NAME_PATTERNS) {
      const sticky = new RegExp(pattern.source, pattern.flags.replace('g', '') + 'y');
      const found = samples.filter(([text]) => ((sticky.lastIndex = 0), sticky.test(text)));
      assert.ok(found.length > 0, `${pattern} finds one of the samples`);
      // The first sample it finds gives its name characters; it is checked on every sample it finds.
      const run = found[0]![1];
      for (const [sample] of found) {
        for (const before of ['a', 'Z', '1', '_', '-', '.', '+']) {
          for (let at = 1; at <= sample.length; at++) {
            const text = before + sample;
            if (!run.test(text[at - 1]!)) continue;
            sticky.lastIndex = at;
            assert.equal(sticky.test(text), false, `${pattern} starts inside ${JSON.stringify(text)} at ${at}`);
          }
        }
      }
    }
    // Where a JWT's attempts may start inside a run of [\w-] (after each -eyJ), its header stops before the next such start.
    const jwt = new RegExp(NAME_PATTERNS.at(-1)!.source, 'y');
    assert.equal(jwt.test('eyJabcdefghij-eyJabcdefghij.abcdefghij'), false);
    jwt.lastIndex = 14;
    assert.equal(jwt.test('eyJabcdefghij-eyJabcdefghij.abcdefghij'), true);
  });
});
