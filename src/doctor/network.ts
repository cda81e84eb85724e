/** DNS and TLS for the URL's host, and which certificate authorities this process trusts. */
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect, rootCertificates, type PeerCertificate } from 'node:tls';
import { connectionProblem } from '../http/network-errors.js';
import { finding, type DoctorContext, type Finding } from './finding.js';
import { proxyFor } from './proxy.js';

const TLS_TIMEOUT_MS = 10_000;

export function caInUse(env: NodeJS.ProcessEnv): string {
  const extra = env.NODE_EXTRA_CA_CERTS?.trim();
  const bundled = `Node's bundled Mozilla CA list (${rootCertificates.length} certificates)`;
  if (!extra) return `${bundled}; NODE_EXTRA_CA_CERTS is not set`;
  return `${bundled} plus NODE_EXTRA_CA_CERTS=${extra}${existsSync(extra) ? '' : ' (that file does not exist)'}`;
}

export async function checkNetwork(ctx: DoctorContext): Promise<{ findings: Finding[]; reachable: boolean }> {
  const { url } = ctx;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const findings: Finding[] = [];
  try {
    const addresses = await lookup(host, { all: true });
    findings.push(finding('network', 'dns_ok', 'ok', `${host} resolves to ${addresses.map((a) => a.address).join(', ')}.`));
  } catch (error) {
    const problem = connectionProblem(error, url);
    findings.push(finding('network', 'dns_failed', 'fail', `${host} does not resolve: ${problem?.reason ?? (error as Error).message}.`, problem?.nextStep));
    return { findings, reachable: false };
  }
  if (url.protocol !== 'https:') {
    findings.push(finding('network', 'tls_not_used', 'info', `${url.origin} is plain http (accepted for loopback hosts only): no TLS to check.`));
    return { findings, reachable: true };
  }
  if (proxyFor(url, ctx.env)) {
    findings.push(finding('network', 'tls_through_proxy', 'info', `Connections to ${url.host} go through the proxy; TLS is checked by the requests below. CAs trusted: ${caInUse(ctx.env)}.`));
    return { findings, reachable: true };
  }
  try {
    const cert = await tlsCertificate(url);
    const issuer = cert.issuer?.O ?? cert.issuer?.CN ?? 'an unnamed issuer';
    findings.push(finding('network', 'tls_ok', 'ok', `TLS to ${url.host} works: certificate for ${cert.subject?.CN ?? host} issued by ${issuer}, valid until ${cert.valid_to}. CAs trusted: ${caInUse(ctx.env)}.`));
    return { findings, reachable: true };
  } catch (error) {
    const problem = connectionProblem(error, url);
    const name = !problem ? 'tls_failed' : /^(tls_|certificate_)/.test(problem.kind) ? problem.kind : `tls_${problem.kind}`;
    findings.push(finding('network', name, 'fail', `TLS to ${url.host} failed: ${problem?.reason ?? (error as Error).message}. CAs trusted: ${caInUse(ctx.env)}.`, problem?.nextStep));
    return { findings, reachable: false };
  }
}

function tlsCertificate(url: URL): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // SNI names a host, never an address (RFC 6066 §3), as https requests send it; the certificate is still checked against the address.
    const socket = connect({ host, port: Number(url.port || 443), ...(isIP(host) ? {} : { servername: host }), timeout: TLS_TIMEOUT_MS });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve(cert);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    });
    socket.once('error', reject);
  });
}
