import { htmlPage } from './http-util.js';

/** The distinctive sentence tests look for after a successful authenticated fetch. */
export const REPORT_SENTENCE = 'The protected resource was reached through Cloudflare Access.';

const SITE_HEADER = `<header class="site-header">
  <a class="brand" href="/">Emulated Intranet</a>
  <nav aria-label="Main">
    <a href="/">Home</a>
    <a href="/long">Long read</a>
    <a href="/tables">Tables</a>
    <a href="/api/data.json">Data API</a>
    <a href="/files/notes.txt">Notes</a>
  </nav>
</header>`;

const SITE_FOOTER = `<footer class="site-footer">
  <p>Emulated Intranet &middot; <a href="/privacy">Privacy</a> &middot; <a href="/contact">Contact</a></p>
</footer>`;

const SIDEBAR = `<aside class="sidebar">
  <h2>Related</h2>
  <ul>
    <li><a href="/long">Quarterly archive</a></li>
    <li><a href="/tables">Regional figures</a></li>
    <li><a href="/files/notes.txt">Operator notes</a></li>
  </ul>
</aside>`;

// Script and style blocks give content extractors something to strip.
const CHROME_HEAD = `<style>.sidebar{float:right;width:30%}.site-footer{clear:both}</style>
<script>window.analyticsQueue = window.analyticsQueue || []; window.analyticsQueue.push('pageview');</script>`;

function layout(title: string, article: string): string {
  return htmlPage(title, [CHROME_HEAD, SITE_HEADER, SIDEBAR, `<main>\n${article}\n</main>`, SITE_FOOTER].join('\n'));
}

export function homePage(): string {
  return layout(
    'Emulated Access Report',
    `<article>
<h1>Emulated Access Report</h1>
<p>${REPORT_SENTENCE}</p>
<p>This page stands in for an internal dashboard. It is only served to requests that carry a credential the emulated Access application accepts.</p>
<p>The report below lists what the gateway checked before letting the request through.</p>
<ul>
  <li>The credential was issued for this application and no other.</li>
  <li>The credential had not expired or been revoked.</li>
  <li>The request reached the origin without a browser session cookie.</li>
</ul>
<p>If you can read this text, authentication worked end to end.</p>
</article>`,
  );
}

const SUBJECTS = [
  'The gateway',
  'An operator on call',
  'The audit pipeline',
  'Each coding agent',
  'The policy engine',
  'A reviewer from the security team',
  'The token service',
  'The edge cache',
  'The incident commander',
  'A nightly batch job',
  'The identity provider',
];
const VERBS = ['recorded', 'verified', 'summarised', 'rejected', 'forwarded', 'inspected', 'annotated', 'replayed', 'archived'];
const OBJECTS = [
  'the request headers of a build runner',
  'a refresh that arrived just after expiry',
  'the list of allowed redirect addresses',
  'a burst of traffic from a staging cluster',
  'the session duration of the finance dashboard',
  'an approval granted from a mobile browser',
  'the signing keys published for the team',
  'a registration made by a command line tool',
  'the latency budget of the reporting service',
  'a misconfigured policy on the wiki',
  'the change log of the deployment pipeline',
  'a service token rotated last quarter',
  'the retention settings of the access logs',
];

function longParagraph(n: number): string {
  const sentences: string[] = [];
  for (let k = 0; k < 4; k++) {
    const subject = SUBJECTS[(n * 3 + k) % SUBJECTS.length];
    const verb = VERBS[(n * 5 + k * 2) % VERBS.length];
    const object = OBJECTS[(n * 7 + k * 3) % OBJECTS.length];
    sentences.push(`${subject} ${verb} ${object} during review step ${n}.${k + 1}.`);
  }
  return `<p>Paragraph ${n}: ${sentences.join(' ')}</p>`;
}

export const LONG_PARAGRAPHS = 160;

export function longPage(): string {
  const paragraphs: string[] = [];
  for (let n = 1; n <= LONG_PARAGRAPHS; n++) {
    if (n % 40 === 1) paragraphs.push(`<h2>Part ${Math.ceil(n / 40)}</h2>`);
    paragraphs.push(longParagraph(n));
  }
  return layout(
    'The Long Access Archive',
    `<article>\n<h1>The Long Access Archive</h1>\n${paragraphs.join('\n')}\n<p>End of the archive.</p>\n</article>`,
  );
}

export function tablesPage(): string {
  return layout(
    'Regional Access Figures',
    `<article>
<h1>Regional Access Figures</h1>
<p>Requests that passed the Access gateway last week, by region.</p>
<h2>Traffic by region</h2>
<table>
  <thead><tr><th>Region</th><th>Requests</th><th>Median latency (ms)</th></tr></thead>
  <tbody>
    <tr><td>Europe</td><td>12840</td><td>31</td></tr>
    <tr><td>North America</td><td>9311</td><td>27</td></tr>
    <tr><td>Asia Pacific</td><td>4702</td><td>58</td></tr>
    <tr><td>South America</td><td>1210</td><td>74</td></tr>
  </tbody>
</table>
<h2>Reproducing the query</h2>
<p>The figures come from this query against the log store:</p>
<pre><code>SELECT region, count(*) AS requests, median(latency_ms)
FROM access_requests
WHERE decision = 'allow'
GROUP BY region;</code></pre>
<h3>Notes</h3>
<p>Latency is measured at the edge, before the origin answers.</p>
</article>`,
  );
}

/** About 10 KB of HTML, for benchmarks. */
export function page10k(): string {
  const target = 10 * 1024;
  const paragraphs: string[] = [];
  let html = '';
  for (let n = 1; ; n++) {
    paragraphs.push(longParagraph(n));
    html = layout('Ten Kilobyte Page', `<article>\n<h1>Ten Kilobyte Page</h1>\n${paragraphs.join('\n')}\n</article>`);
    if (Buffer.byteLength(html) >= target - 400) return html;
  }
}

export function notFoundPage(path: string): string {
  return htmlPage('Not found', `<h1>Not found</h1>\n<p>Nothing lives at ${path.replace(/[<>&"']/g, '')} on this origin.</p>`);
}

export const DATA_JSON = {
  report: {
    title: 'Emulated Access Report',
    generated: '2025-01-15T09:30:00Z',
    owner: { team: 'platform', contact: 'agent@example.com' },
  },
  items: [
    { id: 1, name: 'alpha', tags: ['gateway', 'oauth'], score: 0.92 },
    { id: 2, name: 'beta', tags: ['service-token'], score: 0.47 },
    { id: 3, name: 'gamma', tags: [], score: 0.13 },
  ],
  total: 3,
};

export const NOTES_TXT = [
  'Operator notes',
  '==============',
  '- Access tokens last fifteen minutes; refresh before retrying.',
  '- Service tokens go in CF-Access-Client-Id and CF-Access-Client-Secret.',
  '- Never paste a token into a ticket.',
  '',
].join('\n');

export function plainHomePage(): string {
  return htmlPage('Plain origin', '<h1>Plain origin</h1>\n<p>This origin is not behind Access.</p>');
}
