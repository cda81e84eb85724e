/** The self-contained pages the user's browser sees at the loopback callback. */

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, heading: string, body: string, ok: boolean): string {
  const accent = ok ? '#1a7f37' : '#b42318';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9;color:#1f2328;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:32px 40px;max-width:520px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:1.3rem;margin:0 0 12px;color:${accent}}
p{line-height:1.5;margin:8px 0}
.small{color:#57606a;font-size:.9rem}
</style></head>
<body><main><h1 id="status">${escape(heading)}</h1>${body}
<p class="small">cf-access-mcp · Cloudflare Access login</p></main></body></html>`;
}

export function successPage(host: string): string {
  return page(
    'Signed in',
    'You are signed in',
    `<p>Your agent can now reach <strong>${escape(host)}</strong>.</p><p>You can close this tab and return to your agent.</p>`,
    true,
  );
}

export function errorPage(heading: string, detail: string, nextStep: string): string {
  return page(
    'Login not completed',
    heading,
    `<p>${escape(detail)}</p><p>${escape(nextStep)}</p><p>You can close this tab.</p>`,
    false,
  );
}
