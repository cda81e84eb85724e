/** `doctor`: every check, in the order a request meets them; each finding says what to do. */
import { checkAccess } from './access.js';
import { checkClock } from './clock.js';
import { checkCloudflared } from './cloudflared.js';
import type { DoctorContext, Finding } from './finding.js';
import { checkNetwork } from './network.js';
import { checkProxy } from './proxy.js';
import { checkServiceToken } from './service-token.js';
import { checkStore } from './store.js';

export interface DoctorReport {
  url: string;
  findings: Finding[];
  /** Any finding at level fail. */
  failed: boolean;
}

export async function runDoctorChecks(ctx: DoctorContext): Promise<DoctorReport> {
  const findings: Finding[] = [...checkProxy(ctx)];
  const network = await checkNetwork(ctx);
  findings.push(...network.findings);
  let managedOAuthOff = false;
  let isProtected = false;
  let serviceAuthOnly = false;
  if (network.reachable) {
    findings.push(...(await checkClock(ctx)));
    const access = await checkAccess(ctx);
    findings.push(...access.findings);
    managedOAuthOff = access.managedOAuthOff;
    isProtected = access.protected;
    serviceAuthOnly = access.serviceAuthOnly;
    findings.push(...(await checkServiceToken(ctx, serviceAuthOnly)));
  }
  // cloudflared is the way in only where Access shows managed OAuth off (a failing step of managed OAuth is its own
  // finding), and no help where Access takes only service tokens.
  findings.push(...(await checkCloudflared(ctx, isProtected && managedOAuthOff && !serviceAuthOnly && ctx.service.serviceTokenFor(ctx.url) === undefined)));
  findings.push(...checkStore(ctx));
  return { url: ctx.url.href, findings, failed: findings.some((f) => f.level === 'fail') };
}
