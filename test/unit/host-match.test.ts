import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hostMatches, HostPatternError, parseHostList, parseHostPattern, specificity } from '../../src/auth/host-match.js';

const matches = (pattern: string, url: string) => hostMatches(parseHostPattern(pattern), new URL(url));

describe('host patterns: exact', () => {
  it('matches the host itself, on any port when the pattern names none', () => {
    assert.ok(matches('app.example.com', 'https://app.example.com/x'));
    assert.ok(matches('app.example.com', 'https://app.example.com:8443/'));
    assert.ok(matches('app.example.com', 'http://app.example.com/'));
  });

  it('ignores case and a trailing dot on either side', () => {
    assert.ok(matches('APP.Example.COM', 'https://app.example.com/'));
    assert.ok(matches('app.example.com', 'https://APP.EXAMPLE.COM/'));
    assert.ok(matches('app.example.com.', 'https://app.example.com/'));
    assert.ok(matches('app.example.com', 'https://app.example.com./'));
  });

  it('does not match other hosts, subdomains, parents or look-alikes', () => {
    for (const url of [
      'https://example.com/',
      'https://sub.app.example.com/',
      'https://evil-app.example.com/',
      'https://app.example.com.evil.net/',
      'https://app-example.com/',
      'https://appexample.com/',
      'https://app.example.co/',
    ]) {
      assert.ok(!matches('app.example.com', url), url);
    }
  });

  it('with a port, matches that port only (default ports count)', () => {
    assert.ok(matches('127.0.0.1:8080', 'http://127.0.0.1:8080/'));
    assert.ok(!matches('127.0.0.1:8080', 'http://127.0.0.1:8081/'));
    assert.ok(!matches('127.0.0.1:8080', 'http://127.0.0.1/'));
    assert.ok(matches('app.example.com:443', 'https://app.example.com/'));
    assert.ok(!matches('app.example.com:443', 'http://app.example.com/'));
    assert.ok(matches('localhost:80', 'http://localhost/'));
  });

  it('handles IPv6 literals', () => {
    assert.ok(matches('[::1]:9000', 'http://[::1]:9000/'));
    assert.ok(!matches('[::1]:9000', 'http://[::1]:9001/'));
    assert.ok(matches('[::1]', 'http://[::1]:1234/'));
  });

  it('accepts a URL as the pattern, keeping only host and port', () => {
    assert.ok(matches('https://app.example.com/some/path', 'https://app.example.com/other'));
    assert.ok(matches('http://127.0.0.1:5000/', 'http://127.0.0.1:5000/echo'));
    assert.ok(!matches('http://127.0.0.1:5000/', 'http://127.0.0.1:5001/echo'));
  });
});

describe('host patterns: wildcard', () => {
  it('matches subdomains at any depth', () => {
    assert.ok(matches('*.example.com', 'https://a.example.com/'));
    assert.ok(matches('*.example.com', 'https://a.b.example.com/'));
    assert.ok(matches('*.EXAMPLE.com', 'https://A.example.COM/'));
  });

  it('does not match the apex or any suffix trick', () => {
    for (const url of [
      'https://example.com/',
      'https://evil-example.com/',
      'https://notexample.com/',
      'https://example.com.evil.net/',
      'https://a.example.com.evil.net/',
      'https://.example.com.evil.net/'.replace('//.', '//x.'),
      'https://example.co/',
      'https://a.example.org/',
    ]) {
      assert.ok(!matches('*.example.com', url), url);
    }
  });

  it('respects a port', () => {
    assert.ok(matches('*.example.com:8443', 'https://a.example.com:8443/'));
    assert.ok(!matches('*.example.com:8443', 'https://a.example.com/'));
  });

  it('never matches a look-alike, whatever label is put in front or behind (property)', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    fc.assert(
      fc.property(label, label, (prefix, suffix) => {
        const pattern = parseHostPattern('*.example.com');
        // glued to the domain without a dot: never a subdomain
        assert.ok(!hostMatches(pattern, new URL(`https://${prefix}example.com/`)));
        // the domain used as a subdomain of something else
        assert.ok(!hostMatches(pattern, new URL(`https://${prefix}.example.com.${suffix}.net/`)));
        // a real subdomain always matches
        assert.ok(hostMatches(pattern, new URL(`https://${prefix}.example.com/`)));
      }),
    );
  });
});

describe('host patterns: invalid input', () => {
  for (const bad of ['', '   ', '*', '*.com', 'a.*.example.com', 'app*.example.com', '*.127.0.0.1', 'user@example.com', 'exa mple.com', 'example.com:99999', '*.']) {
    it(`refuses ${JSON.stringify(bad)} with a reason`, () => {
      assert.throws(() => parseHostPattern(bad), (error: unknown) => error instanceof HostPatternError && error.message.length > 0);
    });
  }

  it('parses a comma-separated list, reporting bad entries without dropping good ones', () => {
    const { patterns, errors } = parseHostList(' a.example.com, *.b.example.com ,,bad*host.com, 127.0.0.1:9000 ');
    assert.deepEqual(
      patterns.map((p) => p.source),
      ['a.example.com', '*.b.example.com', '127.0.0.1:9000'],
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /bad\*host\.com/);
  });
});

describe('host patterns: specificity', () => {
  it('ranks exact over wildcard, a port over none, a longer domain over a shorter one', () => {
    const s = (p: string) => specificity(parseHostPattern(p));
    assert.ok(s('app.example.com') > s('*.example.com'));
    assert.ok(s('app.example.com:443') > s('app.example.com'));
    assert.ok(s('*.a.example.com') > s('*.example.com'));
  });
});
