/**
 * The ways a converter or a page can spell a secret: as written, Markdown
 * backslash escapes (our Markdown writer), HTML entities (decimal, hex), percent-encoding
 * and JSON string escapes, and JSON shown in Markdown. A result must contain none of them.
 */
export function escapedForms(secret: string): string[] {
  const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');
  const punctuation = /[^A-Za-z0-9]/g;
  const markdown = secret.replace(/[\\`*_[\]]/g, '\\$&');
  const forms = [
    secret,
    markdown,
    secret.replace(punctuation, (c) => `&#${c.charCodeAt(0)};`),
    secret.replace(punctuation, (c) => `&#x${hex(c, 2)};`),
    secret.replace(punctuation, (c) => `%${hex(c, 2).toUpperCase()}`),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    secret.replace(punctuation, (c) => `\\u${hex(c, 4)}`),
    JSON.stringify(markdown).slice(1, -1),
  ];
  return [...new Set(forms)];
}

/** Every string inside a JSON-like value. */
export function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) stringsIn(item, out);
  return out;
}
