import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Emulator, FaultEndpoint, FaultKind } from '../../src/emulator/index.js';
import { cliEnv, runCli } from '../helpers/cli-run.js';
import { cleanupHomes, ROOT, startEmulator, tempHome } from '../helpers/harness.js';
import { assertNoSecretsLeaked } from '../helpers/leaks.js';

/**
 * Issue 15 item 4: `cf-access-mcp doctor <url>` names the right finding for
 * each emulator fault and setting, for a missing or old cloudflared, and a
 * refused service token (with its service_token_status); no secret in its output.
 */

interface Finding {
  check: string;
  name: string;
  level: 'ok' | 'info' | 'warn' | 'fail';
  summary: string;
  fix?: string;
}

let emulator: Emulator;
const TOKEN = { clientId: 'doctor-id.access', clientSecret: 'doctor-secret-0123456789abcdef' };

function fakeCloudflared(version: string): string {
  const path = join(tempHome('cfam-doctor-cf-'), 'cloudflared');
  writeFileSync(path, `#!/bin/sh\necho "cloudflared version ${version} (built 2025-01-01-0000 UTC)"\n`);
  chmodSync(path, 0o755);
  return path;
}

async function doctor(url: string, extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; findings: Finding[]; text: string; stderr: string; home: string }> {
  const env = { ...process.env, CF_ACCESS_MCP_HOME: tempHome(), CF_ACCESS_MCP_CLOUDFLARED: fakeCloudflared('2026.9.1'), ...extra };
  const run = await runCli(['doctor', url, '--json'], env);
  const text = run.stdout.toString('utf8');
  assert.equal(run.stderr.includes('error:'), false, run.stderr);
  const report = JSON.parse(text) as { findings: Finding[]; failed: boolean };
  return { code: run.code, findings: report.findings, text, stderr: run.stderr, home: env.CF_ACCESS_MCP_HOME! };
}

function named(findings: Finding[], name: string): Finding {
  const found = findings.find((f) => f.name === name);
  assert.ok(found, `finding ${name} among: ${findings.map((f) => f.name).join(', ')}`);
  return found;
}

before(async () => {
  emulator = await startEmulator({ approval: 'auto', serviceTokens: [TOKEN] });
});

beforeEach(() => {
  emulator.setFault(null);
  Object.assign(emulator.options, { mode: 'managed', redirectHosts: 'both', clockSkewSeconds: 0, registrableGrants: ['authorization_code', 'refresh_token'], deny: [] });
});

after(async () => {
  assertNoSecretsLeaked(emulator.secrets());
  await emulator.close();
  cleanupHomes();
});

describe('cf-access-mcp doctor', () => {
  it('a healthy managed-OAuth application: every step ok, exit 0', async () => {
    const { code, findings } = await doctor(`${emulator.appUrl}/`);
    assert.equal(code, 0);
    for (const name of ['proxy_none', 'dns_ok', 'clock_ok', 'access_challenge', 'metadata_ok', 'registration_ok', 'resource_accepted', 'cloudflared_ok', 'store_ok', 'session_none']) {
      assert.equal(named(findings, name).level === 'ok' || named(findings, name).level === 'info', true, name);
    }
    assert.ok(findings.every((f) => f.level !== 'fail'));
  });

  const FAULTS: Array<[FaultEndpoint, FaultKind, string]> = [
    ['probe', '5xx', 'app_http_error'],
    ['probe', 'drop', 'app_unreachable'],
    ['probe', 'missing_fields', 'challenge_without_metadata'],
    ['resource_metadata', '5xx', 'resource_metadata_http_error'],
    ['resource_metadata', 'drop', 'resource_metadata_unreachable'],
    ['resource_metadata', 'malformed_json', 'resource_metadata_malformed'],
    ['resource_metadata', 'missing_fields', 'resource_metadata_incomplete'],
    ['resource_metadata', 'metadata_other_origin', 'resource_metadata_other_origin'],
    ['resource_metadata', 'http_authorization_server', 'authorization_server_insecure'],
    ['server_metadata', '5xx', 'server_metadata_http_error'],
    ['server_metadata', 'drop', 'server_metadata_unreachable'],
    ['server_metadata', 'malformed_json', 'server_metadata_malformed'],
    ['server_metadata', 'missing_fields', 'server_metadata_incomplete'],
    ['server_metadata', 'authorization_server_other_host', 'authorization_server_other_host'],
    ['server_metadata', 'registration_off', 'registration_unavailable'],
    ['registration', '5xx', 'registration_refused'],
    ['registration', 'drop', 'registration_unreachable'],
    ['registration', 'malformed_json', 'registration_malformed'],
    ['registration', 'missing_fields', 'registration_incomplete'],
    ['authorize', '5xx', 'authorize_http_error'],
    ['authorize', 'drop', 'authorize_unreachable'],
    ['authorize', 'resource_refused', 'resource_refused'],
  ];
  for (const [endpoint, kind, expected] of FAULTS) {
    it(`fault ${kind} at ${endpoint} → ${expected}`, async () => {
      emulator.setFault({ endpoint, kind });
      const { code, findings } = await doctor(`${emulator.appUrl}/`);
      const found = named(findings, expected);
      assert.ok(found.summary.length > 0);
      if (found.level === 'fail') {
        assert.equal(code, 1);
        assert.ok(found.fix, `${expected} says what to do`);
      }
    });
  }

  const SETTINGS: Array<[string, Record<string, unknown>, string, Finding['level']]> = [
    ['only 127.0.0.1 redirect URIs allowed', { redirectHosts: '127.0.0.1' }, 'redirect_form_refused', 'warn'],
    ['only localhost redirect URIs allowed', { redirectHosts: 'localhost' }, 'redirect_form_refused', 'warn'],
    ['the refresh grant refused', { registrableGrants: ['authorization_code'] }, 'refresh_grant_refused', 'warn'],
    ['clock 10 minutes apart', { clockSkewSeconds: -600 }, 'clock_skew', 'warn'],
    ['classic Access (no managed OAuth)', { mode: 'classic' }, 'managed_oauth_off', 'warn'],
    ['service auth only', { mode: 'service-auth-only' }, 'service_auth_only', 'info'],
  ];
  for (const [what, options, expected, level] of SETTINGS) {
    it(`${what} → ${expected}`, async () => {
      Object.assign(emulator.options, options);
      const { findings } = await doctor(`${emulator.appUrl}/`);
      assert.equal(named(findings, expected).level, level);
    });
  }

  it('an application whose policy refuses the user: the sign-in still starts (Access refuses only once someone signs in), no redirect URI blamed', async () => {
    emulator.options.deny = ['app'];
    const { code, findings } = await doctor(`${emulator.appUrl}/`);
    assert.equal(named(findings, 'resource_accepted').level, 'ok');
    assert.equal(findings.find((f) => f.name === 'authorize_refused'), undefined);
    assert.ok(findings.every((f) => f.level !== 'fail'), JSON.stringify(findings.filter((f) => f.level === 'fail')));
    assert.equal(code, 0);
  });

  it('an unprotected URL → not_protected', async () => {
    const { code, findings } = await doctor(`${emulator.plainUrl}/`);
    assert.equal(code, 0);
    named(findings, 'not_protected');
  });

  it('cloudflared missing (fail where it is the only way in) or older than 2026.8', async () => {
    Object.assign(emulator.options, { mode: 'classic' });
    const missing = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_CLOUDFLARED: join(tempHome(), 'no-cloudflared') });
    assert.equal(named(missing.findings, 'cloudflared_missing').level, 'fail');
    assert.equal(missing.code, 1);
    const old = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_CLOUDFLARED: fakeCloudflared('2025.4.0') });
    assert.match(named(old.findings, 'cloudflared_outdated').summary, /2025\.4\.0 is older than 2026\.8/);
  });

  it('a failing step of managed OAuth is the one FAIL: cloudflared is not called "the way to sign in" to an application that offers managed OAuth', async () => {
    for (const [endpoint, expected] of [['registration', 'registration_refused'], ['server_metadata', 'server_metadata_http_error'], ['resource_metadata', 'resource_metadata_http_error']] as const) {
      emulator.setFault({ endpoint, kind: '5xx' });
      const { findings } = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_CLOUDFLARED: join(tempHome(), 'no-cloudflared') });
      assert.equal(named(findings, expected).level, 'fail');
      const cloudflared = named(findings, 'cloudflared_missing');
      assert.equal(cloudflared.level, 'info', `${endpoint}: ${cloudflared.summary}`);
      assert.doesNotMatch(cloudflared.summary, /offers no managed OAuth/);
    }
  });

  it('a refused service token names its service_token_status; an accepted one is ok; the secret is never printed', async () => {
    const host = new URL(emulator.appUrl).host;
    const wrong = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_CLIENT_ID: TOKEN.clientId, CF_ACCESS_CLIENT_SECRET: 'wrong-secret-abcdef0123456789', CF_ACCESS_SERVICE_TOKEN_HOSTS: host });
    assert.match(named(wrong.findings, 'service_token_refused').summary, /service_token_status: wrong_secret/);
    const right = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_CLIENT_ID: TOKEN.clientId, CF_ACCESS_CLIENT_SECRET: TOKEN.clientSecret, CF_ACCESS_SERVICE_TOKEN_HOSTS: host });
    named(right.findings, 'service_token_accepted');
    assert.ok(!right.text.includes(TOKEN.clientSecret) && !wrong.text.includes('wrong-secret-abcdef0123456789'));
    const elsewhere = await doctor(`${emulator.app2Url}/`, { CF_ACCESS_CLIENT_ID: TOKEN.clientId, CF_ACCESS_CLIENT_SECRET: TOKEN.clientSecret, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'other.example.com' });
    named(elsewhere.findings, 'service_token_not_for_host');
  });

  it('service auth only: the missing service token is the FAIL, never cloudflared (it signs a person in, which Access refuses there)', async () => {
    Object.assign(emulator.options, { mode: 'service-auth-only' });
    const host = new URL(emulator.appUrl).host;
    const noCloudflared = { CF_ACCESS_MCP_CLOUDFLARED: join(tempHome(), 'no-cloudflared') };
    const none = await doctor(`${emulator.appUrl}/`, noCloudflared);
    assert.equal(none.code, 1);
    assert.equal(named(none.findings, 'service_token_none').level, 'fail');
    assert.match(named(none.findings, 'service_token_none').fix ?? '', new RegExp(`CF_ACCESS_SERVICE_TOKEN_HOSTS=${host}`));
    assert.equal(named(none.findings, 'cloudflared_missing').level, 'info');
    assert.doesNotMatch(named(none.findings, 'cloudflared_missing').summary, /cloudflared is the way to sign in/);
    const elsewhere = await doctor(`${emulator.appUrl}/`, { ...noCloudflared, CF_ACCESS_CLIENT_ID: TOKEN.clientId, CF_ACCESS_CLIENT_SECRET: TOKEN.clientSecret, CF_ACCESS_SERVICE_TOKEN_HOSTS: 'other.example.com' });
    assert.equal(elsewhere.code, 1);
    assert.equal(named(elsewhere.findings, 'service_token_not_for_host').level, 'fail');
    const listed = await doctor(`${emulator.appUrl}/`, { ...noCloudflared, CF_ACCESS_CLIENT_ID: TOKEN.clientId, CF_ACCESS_CLIENT_SECRET: TOKEN.clientSecret, CF_ACCESS_SERVICE_TOKEN_HOSTS: host });
    assert.equal(listed.code, 0);
    named(listed.findings, 'service_token_accepted');
    assert.equal(named(listed.findings, 'service_auth_only').fix, undefined, 'no advice to configure the token that is configured');
  });

  it('a service-token configuration mistake is a finding (also in --json), not only a line on stderr; the secret is not shown', async () => {
    const secret = 'cfast_half-configured-0123456789';
    const { findings, text } = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_CLIENT_SECRET: secret, CF_ACCESS_CLIENT_ID: '' });
    assert.match(named(findings, 'service_token_config_problem').summary, /CF_ACCESS_CLIENT_ID is missing/);
    assert.equal(named(findings, 'service_token_config_problem').level, 'warn');
    assert.ok(!text.includes(secret));
  });

  it('network: DNS failure, TLS spoken to a plain port, a proxy that would carry loopback traffic', async () => {
    const dns = await doctor('https://no-such-host.invalid/');
    assert.equal(named(dns.findings, 'dns_failed').level, 'fail');
    assert.match(named(dns.findings, 'dns_failed').fix ?? '', /Check the host name/);
    const port = new URL(emulator.appUrl).port;
    const tls = await doctor(`https://127.0.0.1:${port}/`);
    assert.equal(named(tls.findings, 'tls_mismatch').level, 'fail');
    const proxied = await doctor(`${emulator.appUrl}/`, { HTTP_PROXY: 'http://user:hunter2@127.0.0.1:9/', http_proxy: '', NO_PROXY: '', no_proxy: '' });
    const proxy = named(proxied.findings, 'proxy_for_loopback');
    assert.doesNotMatch(proxied.text, /hunter2/, 'proxy credentials are not shown');
    assert.match(proxy.fix ?? '', /NO_PROXY/);
  });

  it('TLS to an IP address: no server name sent for it (no DEP0123 warning on stderr), the certificate still checked against the address', async () => {
    const fixture = (name: string) => join(ROOT, 'test', 'fixtures', name);
    const server = createHttpsServer({ key: readFileSync(fixture('tls-self-signed.key')), cert: readFileSync(fixture('tls-self-signed.crt')) }, (_req, res) => res.end('hi'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { findings, stderr } = await doctor(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`, { NODE_EXTRA_CA_CERTS: fixture('tls-self-signed.crt') });
      assert.equal(named(findings, 'tls_ok').level, 'ok', 'the certificate names 127.0.0.1');
      assert.doesNotMatch(stderr, /DEP0123|TLS ServerName/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('says whether the sign-in page will open by itself: an untrusted team (link only, with the fix), a listed team, a team signed in to before', async () => {
    const team = new URL(emulator.teamUrl).host;
    const fresh = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_TEAMS: '' });
    const untrusted = named(fresh.findings, 'team_untrusted');
    assert.equal(untrusted.level, 'info');
    assert.match(untrusted.summary, /gives a link to open instead of opening the browser/);
    assert.ok(untrusted.fix?.includes(`CF_ACCESS_MCP_TEAMS=${team}`), untrusted.fix);
    const listed = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_TEAMS: team });
    assert.equal(named(listed.findings, 'team_trusted').level, 'ok');
    const home = tempHome();
    assert.equal((await runCli(['login', `${emulator.appUrl}/`], cliEnv(home, 'approve'))).code, 0);
    const before = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_HOME: home, CF_ACCESS_MCP_TEAMS: '' });
    named(before.findings, 'team_trusted');
    // Doctor's own registrations do not make a team trusted.
    const again = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_HOME: fresh.home, CF_ACCESS_MCP_TEAMS: '' });
    named(again.findings, 'team_untrusted');
  });

  it('the store: a store path that is a file is reported once, with a fix that applies to a file (not "chmod 700 it")', async () => {
    const file = join(tempHome(), 'not-a-directory');
    writeFileSync(file, '');
    const { findings } = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_HOME: file });
    const memory = named(findings, 'store_memory_only');
    assert.match(memory.summary, /is not a directory/);
    assert.equal(memory.summary.split('The store at').length, 2, `said once: ${memory.summary}`);
    assert.doesNotMatch(`${memory.summary} ${memory.fix}`, /chmod 700 it/);
  });

  it('the store: an application under a path is looked up as itself, not as the host', async () => {
    const paths = await startEmulator({ approval: 'auto', pathApps: ['/admin'] });
    try {
      const home = tempHome();
      const login = await runCli(['login', `${paths.appUrl}/admin/x`], cliEnv(home, 'approve'));
      assert.equal(login.code, 0, login.stderr);
      const admin = await doctor(`${paths.appUrl}/admin/x`, { CF_ACCESS_MCP_HOME: home });
      assert.match(named(admin.findings, 'session_authenticated').summary, new RegExp(`Stored session for ${new URL(paths.appUrl).host}/admin: authenticated`));
      const root = await doctor(`${paths.appUrl}/`, { CF_ACCESS_MCP_HOME: home });
      assert.match(named(root.findings, 'session_none').summary, new RegExp(`No stored session for ${new URL(paths.appUrl).host}\\.`));
    } finally {
      await paths.close();
    }
  });

  it('the store: a stored session for this URL is reported without tokens', async () => {
    const home = tempHome();
    const login = await runCli(['login', `${emulator.appUrl}/`], cliEnv(home, 'approve'));
    assert.equal(login.code, 0, login.stderr);
    const { findings, text } = await doctor(`${emulator.appUrl}/`, { CF_ACCESS_MCP_HOME: home });
    assert.match(named(findings, 'store_ok').summary, /private directory \(mode 700\)/);
    assert.match(named(findings, 'session_authenticated').summary, /authenticated, oauth, expires .* \(refreshable\)/);
    assert.doesNotMatch(text, /oauth:[A-Za-z0-9]/, 'no token');
  });
});
