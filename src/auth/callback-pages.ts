/**
 * The pages the user's browser shows at the loopback callback. Self-contained
 * (no external resources, no script), so nothing on them can call out or leak
 * the callback address, which carries the authorization code.
 */

export const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export type PageTone = 'ok' | 'error' | 'neutral';

const TONES: Record<PageTone, { accent: string; accentDark: string; mark: string }> = {
  ok: { accent: '#1a7f37', accentDark: '#3fb950', mark: '&#10003;' },
  error: { accent: '#b42318', accentDark: '#f85149', mark: '!' },
  neutral: { accent: '#0969da', accentDark: '#4493f8', mark: '&#8594;' },
};

function page(title: string, heading: string, body: string, ok: boolean): string {
  return styledPage(title, heading, body, ok ? 'ok' : 'error');
}

/**
 * The one look of every page a sign-in shows in the browser (also the
 * emulator's consent page): a card, light and dark, no external resources.
 * `body` is trusted HTML; everything interpolated into it must be escaped.
 */
export function styledPage(title: string, heading: string, body: string, tone: PageTone, footer = 'cf-access-mcp · Cloudflare Access login'): string {
  const { accent, accentDark, mark } = TONES[tone];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} · cf-access-mcp</title>
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
code{font-size:.85rem;word-break:break-all}
.actions{display:flex;gap:12px;margin-top:20px}
button{font:inherit;font-weight:600;padding:8px 20px;border-radius:8px;border:1px solid var(--border);background:var(--card);color:var(--text);cursor:pointer}
.actions button:first-child{background:var(--accent);border-color:var(--accent);color:#fff}
</style></head>
<body><main>
<span class="mark" aria-hidden="true">${mark}</span>
<h1 id="status">${escapeHtml(heading)}</h1>
${body}
<p class="small">${escapeHtml(footer)}</p>
</main></body></html>`;
}

/** Shown once the callback was accepted: the login is done on the browser's side. */
export function successPage(host: string): string {
  return page(
    'Signed in',
    'You are signed in',
    `<p>The login to <strong>${escapeHtml(host)}</strong> is complete. Nothing else is needed here.</p>
<p class="close">You can close this tab and return to the application that started the sign-in.</p>`,
    true,
  );
}

/** Shown when the callback was refused or carried an error: what happened, then what to do. */
export function errorPage(heading: string, detail: string, nextStep: string): string {
  return page(
    'Login not completed',
    heading,
    `<p>${escapeHtml(detail)}</p>
<p>${escapeHtml(nextStep)}</p>
<p class="close">You can close this tab.</p>`,
    false,
  );
}
