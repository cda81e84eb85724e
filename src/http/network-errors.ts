/**
 * What a failed connection means, in words a person can act on: one sentence
 * and one next step per cause (DNS, refused, TLS spoken to a plain port,
 * each certificate problem), never OpenSSL's own text.
 */

export interface ConnectionProblem {
  /** A stable name, for `doctor` and tests. */
  kind: 'dns' | 'refused' | 'unreachable' | 'reset' | 'tls_mismatch' | 'certificate_untrusted' | 'certificate_expired' | 'certificate_not_yet_valid' | 'certificate_host_mismatch' | 'certificate_revoked' | 'tls_failed' | 'other';
  /** Completes "Could not reach <host>: …" */
  reason: string;
  nextStep: string;
}

const UNTRUSTED = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE']);

/** The error code Node or undici attached (directly or on the cause). */
export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  return code;
}

function messageOf(error: unknown): string {
  const e = error as { message?: unknown; cause?: { message?: unknown } } | undefined;
  return [e?.message, e?.cause?.message].filter((m) => typeof m === 'string').join(' ');
}

/** Classifies a connection failure to `url`; `undefined` when it is not one (the caller keeps its own wording). */
export function connectionProblem(error: unknown, url: URL): ConnectionProblem | undefined {
  const code = errorCode(error) ?? '';
  const message = messageOf(error);
  const host = url.hostname;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const ca = 'If your network inspects TLS (a corporate proxy or antivirus), point NODE_EXTRA_CA_CERTS at a PEM file with its CA certificate in the environment that starts cf-access-mcp.';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_FAIL') {
    return {
      kind: 'dns',
      reason: `the host name ${host} could not be resolved (DNS${code === 'EAI_AGAIN' ? ': temporary failure, no DNS server answered' : ': no such name'})`,
      nextStep: `Check the host name in the URL for typos. If it is an internal name, connect to the VPN or network that resolves it (try "nslookup ${host}").`,
    };
  }
  if (code === 'ECONNREFUSED') {
    return {
      kind: 'refused',
      reason: `the connection to port ${port} was refused (nothing accepts connections there)`,
      nextStep: `Check the port in the URL and that the server at ${url.host} is running; if you must go through a proxy, set HTTPS_PROXY.`,
    };
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'EADDRNOTAVAIL') {
    return { kind: 'unreachable', reason: `no network route to ${host}`, nextStep: 'Check your network connection or VPN; if you must go through a proxy, set HTTPS_PROXY.' };
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol/i.test(message)) {
    return {
      kind: 'tls_mismatch',
      reason: `port ${port} did not answer with TLS (it speaks plain HTTP, or something else listens there)`,
      nextStep: `Use http:// if ${url.host} serves plain HTTP on that port, or correct the port; if a proxy intercepts, set HTTPS_PROXY.`,
    };
  }
  if (UNTRUSTED.has(code)) {
    return {
      kind: 'certificate_untrusted',
      reason: `its TLS certificate is not signed by a certificate authority this machine trusts (${code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'it is self-signed' : 'unknown issuer'})`,
      nextStep: ca,
    };
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return { kind: 'certificate_expired', reason: 'its TLS certificate has expired', nextStep: `Check this machine's clock (date); if it is right, the owner of ${host} must renew the certificate.` };
  }
  if (code === 'CERT_NOT_YET_VALID') {
    return { kind: 'certificate_not_yet_valid', reason: 'its TLS certificate is not valid yet', nextStep: "Check this machine's clock and time zone (date); it is probably behind." };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return {
      kind: 'certificate_host_mismatch',
      reason: `its TLS certificate is for another host name, not ${host}`,
      nextStep: `Check the host name in the URL; if a proxy presents its own certificate, set NODE_EXTRA_CA_CERTS (or HTTPS_PROXY) for it.`,
    };
  }
  if (code === 'CERT_REVOKED') return { kind: 'certificate_revoked', reason: 'its TLS certificate has been revoked', nextStep: `Do not use ${host} until its owner replaces the certificate.` };
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /SSL routines|ssl3_|tls_/i.test(message)) {
    return { kind: 'tls_failed', reason: 'the TLS handshake failed', nextStep: `Check that the URL's scheme and port are right. ${ca}` };
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
    return { kind: 'reset', reason: 'the connection was closed unexpectedly', nextStep: `Try again; if it keeps happening, a proxy or firewall may be cutting connections to ${host} (HTTPS_PROXY, NO_PROXY).` };
  }
  return undefined;
}

/** Error text with OpenSSL's internals removed ("80FC…:error:0A00010B:SSL routines:…"), on one line. */
export function cleanErrorText(text: string): string {
  const cleaned = text
    .replace(/[0-9A-F]{8,}:error:[0-9A-F]+:[^:]*:([^:]*):[^\s]*/gi, '$1')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.:]+$/, '');
  return cleaned || 'unknown error';
}
