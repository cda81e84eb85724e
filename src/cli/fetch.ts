import { lstat, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Format } from '../http/convert.js';
import type { FetchParams } from '../service/access-service.js';
import { assertOutsideStore } from '../service/fetch-flow.js';
import { fileError, makeDirectories } from '../http/save-to-file.js';
import type { FetchResult } from '../service/results.js';
import { parseCommandArgs, secondsOption } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { forPeople, printJson, reportError, stdoutDelivery } from './output.js';
import { stdoutWriteFailure } from './stdout-failure.js';
import { openSession } from './session.js';
import { FETCH_USAGE } from './usage.js';
import { isLoginPending } from '../service/pending.js';
import { stoppedPendingResult, stoppedWaitingText, stopWaiting } from './detach.js';
import { waitDisplay } from './waiting.js';
import { shownUrl } from '../core/url-policy.js';
import { AccessError } from '../core/errors.js';

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

/** Typed by the schema of reported methods: a new method without a label does not compile. */
const AUTH_LABELS: Record<FetchResult['auth'], string> = { oauth: 'managed OAuth session', cloudflared: 'cloudflared token', service_token: 'service token', none: 'no credentials' };

function statusLine(result: FetchResult): string {
  const auth = AUTH_LABELS[result.auth];
  return `HTTP ${result.status} · ${result.content_type || 'unknown type'} · ${auth} · ${shownUrl(result.final_url)}`;
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
      'create-dirs': { type: 'boolean' },
      format: { type: 'string' },
      fail: { type: 'boolean', short: 'f' },
      wait: { type: 'string' },
      detach: { type: 'boolean' },
      json: { type: 'boolean' },
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
  if (values.format !== undefined && !FORMATS.includes(values.format as Format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}.`, FETCH_USAGE);
  if (values.output !== undefined && values.output.trim() === '') throw new UsageError('-o needs a file name (or - for stdout).', FETCH_USAGE);
  const waitOption = secondsOption(values.wait, '--wait', FETCH_USAGE);
  const method = values.request ?? (values.data !== undefined ? 'POST' : 'GET');
  const output = outputPlan(values.output, values.format as Format | undefined, Boolean(values.json));
  const createDirs = Boolean(values['create-dirs']);

  const session = openSession(Boolean(values.verbose));
  const delivered = stdoutDelivery();
  const display = waitDisplay({ service: session.service, url, paste: false, signal: session.signal });
  try {
    const request: FetchParams = {
      url,
      method,
      headers,
      body: values.data,
      format: output.format,
      max_length: NO_PAGING,
      wait_seconds: waitOption ?? Math.round(session.service.config.loginTimeoutMs / 1000),
      // A raw download is streamed to the file byte for byte; a converted page is written below.
      save_to: output.file !== undefined && output.format === 'raw' ? output.file : undefined,
      // The user typed -o: written wherever they can, like curl (a device stays a device).
      typedByUser: true,
      createDirectories: createDirs,
      ...(output.rawToStdout ? { sink: { out: process.stdout, ...(values.fail ? { skipStatusAtLeast: 400 } : {}) } } : {}),
    };
    if (output.file !== undefined) {
      // A converted page is written here, not by save_to: the same refusal applies, before any directory is made for it.
      await assertOutsideStore(session.service, output.file);
      await checkDirectory(output.file, createDirs);
    }
    const result = await session.service.fetch(request, display.hooks);
    display.stop();
    // -f: an error status writes no body anywhere (terminal, file, --json), as curl -f does.
    const failed = Boolean(values.fail) && result.status >= 400;
    const code = failed ? EXIT.failure : EXIT.ok;
    if (values.json) {
      if (output.file !== undefined && !result.saved_to && !failed) await writeOutputFile(output.file, bodyOf(result), createDirs);
      printJson(jsonResult(result, failed ? undefined : output.file, failed));
      return await completeOutput(code, delivered);
    }
    process.stderr.write(`${statusLine(result)}\n`);
    for (const warning of result.warnings) process.stderr.write(`warning: ${forPeople(warning)}\n`);
    if (!output.rawToStdout && !failed) await writeBody(result, output.file, createDirs);
    return await completeOutput(code, delivered);
  } catch (error) {
    display.stop();
    if (isLoginPending(error)) {
      // The pending text is written for an agent whose server keeps waiting; this process is about to exit.
      const listener = await stopWaiting(session.service, error.pending.host, Boolean(values.detach));
      const command = `cf-access-mcp fetch ${url}`;
      const waitGiven = values.wait !== undefined;
      // With --json, the pending login a `login --json` prints.
      if (values.json) printJson(stoppedPendingResult(error.pending, command, listener, session.signal.aborted, waitGiven));
      else {
        const text = stoppedWaitingText(error.pending, command, listener, session.signal.aborted, waitGiven);
        process.stderr.write(`error: ${text.message}\nnext step: ${text.nextStep}\n`);
      }
      return EXIT.loginIncomplete;
    }
    return reportError(error, session.signal.aborted);
  } finally {
    await session.close();
  }
}

/**
 * Like curl's write error (its exit 23): output the reader of stdout left
 * before taking it all (`| head -c 10`) is a failure, even when the last of it
 * was still queued in this process after the download ended.
 */
async function completeOutput(code: number, delivered: () => Promise<boolean>): Promise<number> {
  if (code !== EXIT.ok || (await delivered())) return code;
  const failure = stdoutWriteFailure();
  const cut = failure === undefined
    ? new AccessError('save_failed', 'The output was closed before the whole body was written.', 'Nothing to do if the reading program stopped on purpose (e.g. head); otherwise write to a file with -o.')
    : new AccessError('save_failed', `Could not write the output (${failure}).`, 'Check where the output goes (free space, permissions), or write to a file elsewhere with -o.');
  // Said on stderr even with --json: stdout, where the document would go, is what failed.
  return reportError(cut, false, false);
}

interface OutputPlan {
  format: Format;
  /** -o <file> (not "-"). */
  file?: string;
  /** The body goes to stdout byte for byte, as curl writes it. */
  rawToStdout: boolean;
}

/**
 * Like curl: into a pipe or a file (or with -o -) the body goes as served,
 * byte for byte, whatever its type and size. Converted text only when asked
 * (--format markdown|text) or for a person reading a terminal.
 */
function outputPlan(output: string | undefined, format: Format | undefined, json: boolean): OutputPlan {
  const file = output === '-' ? undefined : output;
  const terminal = Boolean(process.stdout.isTTY) && output !== '-';
  if (json) return { format: format ?? 'raw', file, rawToStdout: false };
  if (file !== undefined) return { format: format ?? 'raw', file, rawToStdout: false };
  if (format === undefined) return terminal ? { format: 'markdown', rawToStdout: false } : { format: 'raw', rawToStdout: true };
  return { format, rawToStdout: format === 'raw' && !terminal };
}

function bodyOf(result: FetchResult): Buffer | string {
  return result.image ? Buffer.from(result.image.data, 'base64') : result.total_length === 0 ? '' : result.text;
}

/** fetch --json: the result's fields; the body as text (or where it was saved), never credentials. */
function jsonResult(result: FetchResult, file: string | undefined, failed = false): Record<string, unknown> {
  const { image, text, note: _note, start_index: _s, truncated: _t, next_start_index: _n, total_length: _l, ...fields } = result;
  if (failed) return fields;
  if (file !== undefined) return { ...fields, saved_to: result.saved_to ?? file };
  return { ...fields, ...(image ? { image } : { text }) };
}

/**
 * Like curl: the directory of -o <file> must exist, unless --create-dirs asks
 * for it (as curl's, made only once there is something to write). Checked
 * before the request, so a doomed save sends nothing.
 */
async function checkDirectory(file: string, create: boolean): Promise<void> {
  const directory = dirname(resolve(file));
  const missing = await stat(directory).then(
    () => false,
    (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
  );
  if (!missing || create) return;
  // A symbolic link to nothing cannot be created over: say what it is rather than suggest --create-dirs.
  const link = await lstat(directory).then((found) => found.isSymbolicLink(), () => false);
  if (link) throw new AccessError('save_failed', `Could not save to ${file}: its directory ${directory} is a symbolic link to something that does not exist.`, 'Fix or remove that link, or choose another path for -o <file>.');
  throw new AccessError('save_failed', `Could not save to ${file}: its directory ${directory} does not exist.`, `Add --create-dirs to create it, or create it first (mkdir -p ${shellWord(directory)}).`);
}

/** A page not streamed by save_to (converted, or an error status): a failure names the file and what to do, as a download's does. */
async function writeOutputFile(file: string, body: Buffer | string, createDirs: boolean): Promise<void> {
  if (createDirs) {
    await makeDirectories(dirname(resolve(file))).catch((error: unknown) => {
      throw fileError(error, file, 'create its directory');
    });
  }
  await writeFile(file, body).catch((error: unknown) => {
    throw fileError(error, file, 'write it');
  });
}

async function writeBody(result: FetchResult, output: string | undefined, createDirs: boolean): Promise<void> {
  if (result.saved_to) {
    process.stderr.write(`Saved ${result.bytes ?? 'the'} bytes to ${result.saved_to}\n`);
    return;
  }
  const body = bodyOf(result);
  if (output !== undefined) {
    await writeOutputFile(output, body, createDirs);
    process.stderr.write(`Saved to ${output}\n`);
    return;
  }
  if (result.image) {
    // An image is not dumped on a terminal: say what it is and how to save it (result.text speaks of the tool's image content).
    const bytes = Buffer.byteLength(result.image.data, 'base64');
    process.stderr.write(`Image (${result.image.mimeType}, ${bytes} bytes): not shown on a terminal. Use -o <file> to save it, or redirect the output (> file).\n`);
    return;
  }
  if (result.binary) {
    // Nor is other binary content: its description says, in the command line's words, how to save it.
    process.stderr.write(`${forPeople(result.text)}\n`);
    return;
  }
  process.stdout.write(typeof body === 'string' && body && !body.endsWith('\n') ? `${body}\n` : body);
}

/** A path as one POSIX shell word, for a command the person may paste: nothing in it is split or expanded. */
function shellWord(path: string): string {
  return /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
