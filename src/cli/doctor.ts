import { parseTargetUrl } from '../core/url-policy.js';
import { redactSecrets } from '../core/redact.js';
import { runDoctorChecks } from '../doctor/run.js';
import type { Level } from '../doctor/finding.js';
import { parseCommandArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { printJson, reportError } from './output.js';
import { openSession } from './session.js';
import { DOCTOR_USAGE } from './usage.js';

const MARK: Record<Level, string> = { ok: 'ok  ', info: 'info', warn: 'warn', fail: 'FAIL' };

/** `cf-access-mcp doctor <url>`: check everything a sign-in to <url> depends on, and say what to fix. */
export async function runDoctor(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, DOCTOR_USAGE);
  if (values.help) {
    process.stdout.write(DOCTOR_USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'doctor needs the URL that does not work.' : 'doctor takes exactly one URL.', DOCTOR_USAGE);
  let url: URL;
  try {
    url = parseTargetUrl(positionals[0]!);
  } catch (error) {
    throw new UsageError((error as Error).message, DOCTOR_USAGE);
  }
  const session = openSession(Boolean(values.verbose));
  try {
    const report = await runDoctorChecks({ url, service: session.service, env: process.env, signal: session.signal });
    if (values.json) printJson(report);
    else {
      const lines = [`cf-access-mcp doctor ${report.url}`];
      for (const f of report.findings) {
        lines.push(`${MARK[f.level]}  ${f.check}: ${f.summary}  [${f.name}]`);
        if (f.fix && f.level !== 'ok') lines.push(`      fix: ${f.fix}`);
      }
      lines.push(report.failed ? 'Something above stops a sign-in: see the FAIL lines.' : 'Nothing found that stops a sign-in.');
      process.stdout.write(`${redactSecrets(lines.join('\n'))}\n`);
    }
    return report.failed ? EXIT.failure : EXIT.ok;
  } catch (error) {
    return reportError(error, session.signal.aborted);
  } finally {
    await session.close();
  }
}
