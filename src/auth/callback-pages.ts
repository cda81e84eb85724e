/**
 * The pages the user's browser shows at the loopback callback. Self-contained
 * (no external resources, no script), so nothing on them can call out or leak
 * the callback address, which carries the authorization code.
 */

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, heading: string, body: string, ok: boolean): string {
  const accent = ok ? '#1a7f37' : '#b42318';
  const accentDark = ok ? '#3fb950' : '#f85149';
  const mark = ok ? '&#10003;' : '!';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escape(title)} · cf-access-mcp</title>
<style>
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--text:#1f2328;--muted:#57606a;--border:#d0d7de;--accent:${accent}}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--text:#e6edf3;--muted:#8d96a0;--border:#30363d;--accent:${accentDark}}}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--text);margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:32px 40px;max-width:520px;margin:16px}
.mark{display:inline-flex;width:40px;height:40px;border-radius:50%;align-items:center;justify-content:center;background:var(--accent);color:#fff;font-weight:700;font-size:1.3rem}
h1{font-size:1.3rem;margin:14px 0 12px;color:var(--accent)}
p{line-height:1.5;margin:8px 0}
.close{font-weight:600}
.small{color:var(--muted);font-size:.85rem;margin-top:20px}
</style></head>
<body><main>
<span class="mark" aria-hidden="true">${mark}</span>
<h1 id="status">${escape(heading)}</h1>
${body}
<p class="small">cf-access-mcp · Cloudflare Access login</p>
</main></body></html>`;
}

/** Shown once the callback was accepted: the login is done on the browser's side. */
export function successPage(host: string): string {
  return page(
    'Signed in',
    'You are signed in',
    `<p>The login to <strong>${escape(host)}</strong> is complete. Nothing else is needed here.</p>
<p class="close">You can close this tab and return to the application that started the sign-in.</p>`,
    true,
  );
}

/** Shown when the callback was refused or carried an error: what happened, then what to do. */
export function errorPage(heading: string, detail: string, nextStep: string): string {
  return page(
    'Login not completed',
    heading,
    `<p>${escape(detail)}</p>
<p>${escape(nextStep)}</p>
<p class="close">You can close this tab.</p>`,
    false,
  );
}
