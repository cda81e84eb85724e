#!/usr/bin/env node
/**
 * A stand-in browser for the demo: it "opens" the authorization URL by
 * following redirects until it reaches the loopback callback, like a browser
 * whose user is already signed in (the emulator's auto approval).
 */
const start = process.argv[2];
if (!start) {
  process.stderr.write('usage: follow-browser <url>\n');
  process.exit(2);
}
let url = new URL(start);
// Like a browser, it keeps the cookie our loopback start address sets: the callback requires it.
const cookies: string[] = [];
for (let hop = 0; hop < 10; hop++) {
  const headers: Record<string, string> = { accept: 'text/html' };
  if (cookies.length && url.pathname === '/callback') headers.cookie = cookies.join('; ');
  const response = await fetch(url, { redirect: 'manual', headers });
  for (const header of response.headers.getSetCookie()) cookies.push(header.split(';')[0]!);
  await response.arrayBuffer();
  const location = response.headers.get('location');
  if (response.status < 300 || response.status >= 400 || !location) break;
  url = new URL(location, url);
}
