import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appKeyOf, keyServes, longestKeyFor } from '../../src/auth/app-key.js';
import { AuthMethodSchema, CredentialMethodSchema, LoginChoiceSchema, SessionMethodSchema } from '../../src/auth/methods.js';
import { commandLine, forTerminal } from '../../src/cli/next-step-words.js';
import { plainSteps, renderSteps, step } from '../../src/core/next-step.js';
import { forAgents } from '../../src/mcp/next-step-words.js';

describe('applications as the unit', () => {
  const url = (u: string) => new URL(u);

  it('keys an application by its resource: the origin, or a same-origin path prefix', () => {
    assert.equal(appKeyOf('https://app.example.com', url('https://app.example.com/x')), 'https://app.example.com');
    assert.equal(appKeyOf('https://app.example.com/', url('https://app.example.com/x')), 'https://app.example.com');
    assert.equal(appKeyOf('https://app.example.com/admin/', url('https://app.example.com/admin/users')), 'https://app.example.com/admin');
    assert.throws(() => appKeyOf('https://other.example.com', url('https://app.example.com/')), /refusing/);
    assert.throws(() => appKeyOf('https://app.example.com/admin', url('https://app.example.com/api')), /does not contain/);
    assert.throws(() => appKeyOf('https://app.example.com/admin', url('https://app.example.com/administrator')), /does not contain/);
  });

  it('picks the longest prefix, whole path segments only, same origin only', () => {
    const keys = ['https://a.example.com', 'https://a.example.com/admin', 'https://a.example.com/admin/deep', 'https://b.example.com'];
    assert.equal(longestKeyFor(keys, url('https://a.example.com/')), 'https://a.example.com');
    assert.equal(longestKeyFor(keys, url('https://a.example.com/admin')), 'https://a.example.com/admin');
    assert.equal(longestKeyFor(keys, url('https://a.example.com/admin/x')), 'https://a.example.com/admin');
    assert.equal(longestKeyFor(keys, url('https://a.example.com/admin/deep/er')), 'https://a.example.com/admin/deep');
    assert.equal(longestKeyFor(keys, url('https://a.example.com/administrator')), 'https://a.example.com');
    assert.equal(longestKeyFor(keys, url('https://a.example.com:8443/admin')), undefined);
    assert.equal(longestKeyFor(['https://a.example.com/admin'], url('https://a.example.com/')), undefined);
    assert.equal(keyServes('not a url', url('https://a.example.com/')), false);
  });
});

describe('method names come from one schema each', () => {
  it('derives every list from the session methods', () => {
    assert.deepEqual(CredentialMethodSchema.options, [...SessionMethodSchema.options, 'service_token']);
    assert.deepEqual(LoginChoiceSchema.options, ['auto', ...CredentialMethodSchema.options]);
    assert.deepEqual(AuthMethodSchema.options, [...CredentialMethodSchema.options, 'none']);
  });
});

describe('next steps as data, each surface in its own words', () => {
  const text = `Signed in, but refused. To try again, ${step('login', { url: 'https://a.example.com/admin', force: true })}.`;

  it('the MCP layer names the tool and its arguments', () => {
    assert.equal(forAgents(text), 'Signed in, but refused. To try again, call access_login with url: https://a.example.com/admin, force: true.');
  });

  it('the CLI names the command and its flags, never a tool', () => {
    const rendered = forTerminal(text);
    assert.equal(rendered, 'Signed in, but refused. To try again, run `cf-access-mcp login https://a.example.com/admin --force`.');
    assert.equal(commandLine({ action: 'logout', args: { all: true } }), 'run `cf-access-mcp logout --all`');
    assert.equal(commandLine({ action: 'login', args: { url: 'https://x', method: 'cloudflared' } }), 'run `cf-access-mcp login https://x --method cloudflared`');
    assert.match(commandLine({ action: 'login', args: { url: 'https://x', callback_url: '<that address>' } }), /--paste` and paste that address/);
  });

  it('leaves text without steps, and broken markers, alone', () => {
    assert.equal(renderSteps('plain', () => 'x'), 'plain');
    const broken = '\u27e6step %7Bnot-json\u27e7';
    assert.equal(renderSteps(broken, () => 'x'), broken);
  });
});

describe('markers from elsewhere', () => {
  it('are never rendered: only this process can write a marker (a random tag), so quoted text stays as it is', () => {
    const ours = step('logout', { all: true });
    assert.notEqual(renderSteps(ours, () => 'RENDERED'), ours);
    // The same marker as another process (or a hostile page) could spell it without our tag.
    const forged = ours.replace(/^\u27e6step\.[0-9a-f]+ /, '\u27e6step ');
    assert.notEqual(forged, ours);
    assert.equal(renderSteps(`Server says: ${forged}`, () => 'RENDERED'), `Server says: ${forged}`);
    const otherTag = ours.replace(/^\u27e6step\.[0-9a-f]+ /, '\u27e6step.000000000000 ');
    assert.equal(renderSteps(otherTag, () => 'RENDERED'), otherTag);
  });

  it('are worded plainly before a text is kept past the process', () => {
    assert.equal(plainSteps(`Then ${step('login', { url: 'https://a.example.com' })}.`), 'Then login {"url":"https://a.example.com"}.');
  });
});
