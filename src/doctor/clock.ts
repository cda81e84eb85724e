/** This machine's clock against the server's `Date`: tokens and certificates carry times. */
import { discard, headerValue, send } from '../http/client.js';
import { finding, type DoctorContext, type Finding } from './finding.js';

const TOLERATED_SECONDS = 60;

export async function checkClock(ctx: DoctorContext): Promise<Finding[]> {
  let date: string | undefined;
  try {
    const response = await send(ctx.service.dispatcher, ctx.url, { method: 'HEAD', headers: { 'user-agent': 'cf-access-mcp doctor' }, signal: ctx.signal });
    discard(response.body);
    date = headerValue(response.headers, 'date');
  } catch {
    return [];
  }
  const serverTime = date ? Date.parse(date) : NaN;
  if (Number.isNaN(serverTime)) return [finding('clock', 'clock_unknown', 'info', `${ctx.url.host} sent no Date header; the clock could not be compared.`)];
  const skew = Math.round((Date.now() - serverTime) / 1000);
  if (Math.abs(skew) <= TOLERATED_SECONDS) return [finding('clock', 'clock_ok', 'ok', `This machine's clock is within ${Math.max(1, Math.abs(skew))} s of ${ctx.url.host}'s.`)];
  return [
    finding(
      'clock',
      'clock_skew',
      'warn',
      `This machine's clock is ${Math.abs(skew)} s ${skew > 0 ? 'ahead of' : 'behind'} ${ctx.url.host}'s (its Date: ${date}). Tokens may look expired or not yet valid, and certificates fail.`,
      'Turn on automatic time synchronisation (e.g. timedatectl set-ntp true, or the OS date settings).',
    ),
  ];
}
