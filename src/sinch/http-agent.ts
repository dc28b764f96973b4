import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';

/**
 * The one place where batchsend's HTTP connections are made: send, status and cancel take their
 * dispatcher from here, so proxies, connection limits and timeouts are the same for all of them.
 */

export interface HttpAgentOptions {
  /** Connections per origin at most. */
  readonly connections: number;
  readonly keepAliveTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

export interface ProxySettings {
  /** '' when unset. */
  readonly httpProxy: string;
  readonly httpsProxy: string;
  readonly noProxy: string;
}

/** No proxy. */
export const NO_PROXY: ProxySettings = { httpProxy: '', httpsProxy: '', noProxy: '' };

type Env = Readonly<Record<string, string | undefined>>;

/** The proxy variables, lower case first, as curl and undici read them. */
export function proxySettings(env: Env): ProxySettings {
  const read = (name: string): string => (env[name.toLowerCase()] ?? env[name.toUpperCase()] ?? '').trim();
  return { httpProxy: read('http_proxy'), httpsProxy: read('https_proxy'), noProxy: read('no_proxy') };
}

/** The proxy that a request to `url` goes through, or undefined (none set, or NO_PROXY names the host). */
export function proxyFor(url: string, proxy: ProxySettings): string | undefined {
  const target = new URL(url);
  const chosen = target.protocol === 'https:' ? proxy.httpsProxy || proxy.httpProxy : proxy.httpProxy;
  if (chosen === '') return undefined;
  const host = target.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
  for (const entry of proxy.noProxy.split(/[,\s]+/)) {
    if (entry === '') continue;
    if (entry === '*') return undefined;
    const match = /^(.+):(\d+)$/.exec(entry);
    const name = (match?.[1] ?? entry).replace(/^\*?\./, '').toLowerCase();
    if (match !== null && Number(match[2]) !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return undefined;
  }
  return chosen;
}

/** A proxy URL fit to print: no user or password. */
export function printableProxy(proxyUrl: string): string {
  try {
    const url = new URL(proxyUrl);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(an unreadable proxy URL)';
  }
}

/**
 * The dispatcher for the API's requests: a plain keep-alive agent, or — when HTTPS_PROXY /
 * HTTP_PROXY is set — undici's EnvHttpProxyAgent, given the variables from `env` (never from
 * `process`) and honouring NO_PROXY.
 */
export function createHttpAgent(env: Env, options: HttpAgentOptions): Dispatcher {
  const agentOptions = {
    connections: options.connections,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
    connect: { timeout: options.connectTimeoutMs ?? 10_000 },
  };
  const proxy = proxySettings(env);
  if (proxy.httpProxy === '' && proxy.httpsProxy === '') return new Agent(agentOptions);
  return new EnvHttpProxyAgent({ ...agentOptions, ...proxy });
}

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/** The error code of an undici failure, looking into its cause. */
export function networkErrorCode(error: unknown): string {
  const e = error as { code?: string; name?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code ?? e.name ?? 'error';
}

/**
 * A failed request in words: which host, what went wrong, what to do next. `url` is the request's
 * URL; `proxy` the settings it went out with.
 */
export function describeNetworkFailure(error: unknown, url: string, proxy: ProxySettings): string {
  const code = networkErrorCode(error);
  const { host, hostname } = new URL(url);
  const via = proxyFor(url, proxy);
  const through = via === undefined ? '' : ` through the proxy ${printableProxy(via)}`;
  const message = error instanceof Error ? error.message : '';
  if (/Proxy response \((\d+)\)/.test(message)) {
    const status = /Proxy response \((\d+)\)/.exec(message)![1];
    return `the proxy ${printableProxy(via ?? '')} refused to connect to ${host} (${status}${status === '407' ? ': it wants credentials — put them in the proxy URL, http://user:password@proxy:port' : ''})`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `cannot resolve ${hostname}${through} (${code}): check the URL (--region, --base-url, --auth-url) and the network; behind a proxy, set HTTPS_PROXY`;
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return `TLS with ${host}${through} failed (${code}): if a proxy or firewall inspects TLS, give Node its CA certificate with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`;
  }
  if (code === 'ECONNREFUSED') return `${host} refused the connection${through} (ECONNREFUSED): check the URL and that the service is up`;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return `connecting to ${host}${through} timed out (${code}): check the network, a firewall, or HTTPS_PROXY`;
  }
  return `no answer from ${host}${through} (${code})`;
}
