import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessError } from '../../src/core/errors.js';
import { step } from '../../src/core/next-step.js';
import { isAllowedScheme, isLoopbackHost, parseTargetUrl, shownUrl, SHOWN_URL_MAX } from '../../src/core/url-policy.js';
import { forAgents } from '../../src/mcp/next-step-words.js';

function refused(input: unknown, messagePattern: RegExp): AccessError {
  let caught: unknown;
  try {
    parseTargetUrl(input);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AccessError, `expected an AccessError for ${JSON.stringify(input)}`);
  assert.equal(caught.code, 'invalid_url');
  assert.match(caught.message, messagePattern);
  assert.ok(caught.nextStep.length > 0, 'a next step is given');
  return caught;
}

describe('isLoopbackHost', () => {
  it('accepts every loopback form', () => {
    for (const host of ['localhost', 'LOCALHOST', 'app.localhost', '127.0.0.1', '127.1.2.3', '127.255.255.255', '::1', '[::1]', '0:0:0:0:0:0:0:1']) {
      assert.equal(isLoopbackHost(host), true, host);
    }
  });

  it('refuses hosts that only look like loopback', () => {
    for (const host of ['example.com', '128.0.0.1', '127.0.0.256', '127.0.0', '127.0.0.1.evil.com', 'localhost.evil.com', '10.0.0.1', '0.0.0.0', '::', '::2', 'evil-localhost']) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});

describe('isAllowedScheme', () => {
  it('allows https anywhere and http only on loopback', () => {
    assert.equal(isAllowedScheme(new URL('https://example.com/')), true);
    assert.equal(isAllowedScheme(new URL('http://127.0.0.1:8080/')), true);
    assert.equal(isAllowedScheme(new URL('http://[::1]:8080/')), true);
    assert.equal(isAllowedScheme(new URL('http://localhost/')), true);
    assert.equal(isAllowedScheme(new URL('http://example.com/')), false);
    assert.equal(isAllowedScheme(new URL('http://192.168.1.1/')), false);
    assert.equal(isAllowedScheme(new URL('ftp://127.0.0.1/')), false);
  });
});

describe('parseTargetUrl', () => {
  it('accepts https URLs and loopback http URLs, dropping the fragment', () => {
    assert.equal(parseTargetUrl('https://app.example.com/docs?q=1#frag').href, 'https://app.example.com/docs?q=1');
    assert.equal(parseTargetUrl('  https://app.example.com/  ').href, 'https://app.example.com/');
    for (const url of ['http://127.0.0.1:9000/x', 'http://localhost:3000/', 'http://[::1]:8080/api', 'http://127.9.9.9/']) {
      assert.equal(parseTargetUrl(url).protocol, 'http:', url);
    }
  });

  it('refuses plain http for other hosts and suggests https', () => {
    const error = refused('http://example.com/path?x=1', /http:\/\/ is refused for example\.com/);
    assert.match(error.nextStep, /https:\/\/example\.com\/path\?x=1/);
    refused('http://10.0.0.5/', /refused/);
    refused('http://127.0.0.1.nip.io/', /refused/);
  });

  it('refuses other schemes, non-URLs and empty input', () => {
    refused('ftp://x', /scheme ftp: is not supported/);
    refused('file:///etc/passwd', /scheme file: is not supported/);
    refused('javascript:alert(1)', /not supported/);
    refused('not a url', /not a valid absolute URL/);
    refused('/relative/path', /not a valid absolute URL/);
    refused('', /No URL/);
    refused('   ', /No URL/);
    refused(undefined, /No URL/);
    refused(42, /No URL/);
  });

  it('refuses credentials embedded in the URL without echoing them', () => {
    for (const url of ['https://user:hunter2secret@app.example.com/', 'https://user@app.example.com/', 'http://a:b@127.0.0.1/']) {
      const error = refused(url, /user names or passwords are refused/);
      assert.ok(!error.message.includes('hunter2secret') && !error.nextStep.includes('hunter2secret'));
    }
  });

  it('does not echo a huge invalid input in full', () => {
    const error = refused(`not a url ${'x'.repeat(5000)}`, /not a valid absolute URL/);
    assert.ok(error.message.length < 400, `message length ${error.message.length}`);
  });
});

describe('shownUrl: a very long URL in our own sentences', () => {
  const long = `https://app.example.com/reports/2026/summary?filter=${'a%20b'.repeat(40_000)}&end=tail-marker`;

  it('keeps a URL up to the limit as it is', () => {
    const limit = `https://app.example.com/${'p'.repeat(SHOWN_URL_MAX - 24)}`;
    assert.equal(limit.length, SHOWN_URL_MAX);
    assert.equal(shownUrl(limit), limit);
    assert.equal(shownUrl(new URL('https://app.example.com/a?b=c')), 'https://app.example.com/a?b=c');
  });

  it('keeps the origin and the path start, leaves out the middle and says how many characters', () => {
    const shown = shownUrl(long);
    const match = /^(.*)…\[(\d+) characters left out\]…(.*)$/.exec(shown);
    assert.ok(match, shown);
    const [, head, left, tail] = match;
    assert.ok(head!.startsWith('https://app.example.com/reports/2026/summary?filter='), head);
    assert.ok(long.startsWith(head!) && long.endsWith(tail!));
    assert.match(tail!, /&end=tail-marker$/);
    assert.equal(head!.length + Number(left) + tail!.length, long.length, 'the count is exact');
    assert.ok(shown.length < 2 * SHOWN_URL_MAX, `${shown.length} characters`);
  });

  it('never cuts into the origin, even a long host', () => {
    const host = `${'h'.repeat(60)}.${'i'.repeat(60)}.${'j'.repeat(60)}.${'k'.repeat(60)}.example`;
    const url = `https://${host}:8443/${'x'.repeat(1_000)}`;
    assert.ok(shownUrl(url).startsWith(`https://${host}:8443/`));
  });

  it('a next step that names a long URL shows it shortened', () => {
    const text = forAgents(`To try again, ${step('login', { url: long, force: true })}.`);
    assert.match(text, /^To try again, call access_login with url: https:\/\/app\.example\.com\/reports\/2026\/summary\?filter=a%20b[^,]*…\[\d+ characters left out\]…[^,]*&end=tail-marker, force: true\.$/);
    assert.ok(text.length < 2 * SHOWN_URL_MAX);
  });
});
