import { writeFile } from 'node:fs/promises';
import type { Format } from '../http/convert.js';
import type { FetchParams } from '../service/access-service.js';
import type { FetchResult } from '../service/results.js';
import { parseCommandArgs, secondsOption } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { reportError } from './output.js';
import { openSession } from './session.js';
import { FETCH_USAGE } from './usage.js';
import { isLoginPending } from '../service/pending.js';
import { stoppedWaitingText, stopWaiting } from './detach.js';
import { waitDisplay } from './waiting.js';

const FORMATS: Format[] = ['raw', 'markdown', 'text'];
/** The CLI hands over the whole (capped) body: no paging. */
const NO_PAGING = Number.MAX_SAFE_INTEGER;

function parseHeaders(values: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const raw of values ?? []) {
    const colon = raw.indexOf(':');
    const name = colon > 0 ? raw.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new UsageError(`-H needs "Name: value", not "${raw}".`, FETCH_USAGE);
    headers[name] = raw.slice(colon + 1).trim();
  }
  return headers;
}

function statusLine(result: FetchResult): string {
  const labels: Record<string, string> = { oauth: 'managed OAuth session', cloudflared: 'cloudflared token', service_token: 'service token', none: 'no credentials' };
  const auth = labels[result.auth] ?? result.auth;
  return `HTTP ${result.status} · ${result.content_type || 'unknown type'} · ${auth} · ${result.final_url}`;
}

/** `cf-access-mcp fetch <url>`: a small curl through Access, signing in when needed. */
export async function runFetch(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      request: { type: 'string', short: 'X' },
      header: { type: 'string', short: 'H', multiple: true },
      data: { type: 'string', short: 'd' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string' },
      fail: { type: 'boolean', short: 'f' },
      wait: { type: 'string' },
      detach: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    FETCH_USAGE,
  );
  if (values.help) {
    process.stdout.write(FETCH_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'fetch needs a URL.' : 'fetch takes exactly one URL.', FETCH_USAGE);
  const url = positionals[0]!;
  const headers = parseHeaders(values.header);
  const format = (values.format ?? 'raw') as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}.`, FETCH_USAGE);
  if (values.output !== undefined && values.output.trim() === '') throw new UsageError('-o needs a file name.', FETCH_USAGE);
  const waitOption = secondsOption(values.wait, '--wait', FETCH_USAGE);
  const method = values.request ?? (values.data !== undefined ? 'POST' : 'GET');

  const session = openSession(Boolean(values.verbose));
  const display = waitDisplay({ service: session.service, url, paste: false, signal: session.signal });
  try {
    const request: FetchParams = {
      url,
      method,
      headers,
      body: values.data,
      format,
      max_length: NO_PAGING,
      wait_seconds: waitOption ?? Math.round(session.service.config.loginTimeoutMs / 1000),
      // A raw download is streamed to the file byte for byte; a converted page is written below.
      save_to: values.output !== undefined && format === 'raw' ? values.output : undefined,
      // The user typed -o: written wherever they can, like curl (a device stays a device).
      typedByUser: true,
    };
    const result = await session.service.fetch(request, display.hooks);
    display.stop();
    process.stderr.write(`${statusLine(result)}\n`);
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    await writeBody(result, values.output);
    return values.fail && result.status >= 400 ? EXIT.failure : EXIT.ok;
  } catch (error) {
    display.stop();
    if (isLoginPending(error)) {
      // The pending text is written for an agent whose server keeps waiting; this process is about to exit.
      const detached = await stopWaiting(session.service, error.pending.host, Boolean(values.detach));
      const text = stoppedWaitingText(error.pending, `cf-access-mcp fetch ${url}`, detached, session.signal.aborted);
      process.stderr.write(`error: ${text.message}\nnext step: ${text.nextStep}\n`);
      return EXIT.loginIncomplete;
    }
    return reportError(error);
  } finally {
    await session.close();
  }
}

async function writeBody(result: FetchResult, output: string | undefined): Promise<void> {
  if (result.saved_to) {
    process.stderr.write(`Saved ${result.bytes ?? 'the'} bytes to ${result.saved_to}\n`);
    return;
  }
  const body = result.image ? Buffer.from(result.image.data, 'base64') : result.total_length === 0 ? '' : result.text;
  if (output !== undefined) {
    await writeFile(output, body);
    process.stderr.write(`Saved to ${output}\n`);
    return;
  }
  const described = /Use save_to to write it to a file\.$/;
  if (result.image || described.test(result.text)) {
    // Binary content is not dumped on a terminal: say what it is and how to save it.
    process.stderr.write(`${result.text.replace(described, '').trim()} Use -o <file> to save it.\n`);
    return;
  }
  process.stdout.write(typeof body === 'string' && body && !body.endsWith('\n') ? `${body}\n` : body);
}
