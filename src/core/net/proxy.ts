// The HTTP agent every Clearance call goes through: the role's own forward proxy when
// it is on, else whatever the environment says (HTTPS_PROXY, NO_PROXY, ...).
//
// Only explicit http:// proxies are built here: proxy-agent's PAC path reads
// import.meta.url for a .wasm file and breaks in the CommonJS bundle (docs/platform-notes.md §3).

import { X509Certificate } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { ProxyAgent, ProxyAgentOptions } from 'proxy-agent' with { 'resolution-mode': 'import' };

export interface RoleProxy {
  enabled: boolean;
  /** IPv4 address or host name (validated by validateRoleProperties). */
  host: string;
  port: number;
  username: string;
  /** From the SecretStore; never part of the role properties. */
  password?: string;
}

export interface AgentSettings {
  proxy?: RoleProxy;
  /** Full CA list (default roots + extras) or undefined for Node's defaults. */
  ca?: string[];
}

/** `host:port` of the role's proxy, for messages; never contains credentials. */
export function describeProxy(proxy: RoleProxy | undefined): string | undefined {
  return proxy?.enabled ? `${proxy.host}:${proxy.port}` : undefined;
}

/** `Basic …` for the proxy, or undefined without a user name. RFC 7617: user-id has no ':'. */
export function proxyAuthorization(proxy: RoleProxy): string | undefined {
  if (!proxy.username) return undefined;
  return `Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`, 'utf8').toString('base64')}`;
}

/**
 * The proxy URL with URL-encoded credentials, as other tools expect it. Holds the
 * password: only for handing to a child process environment, never for display.
 */
export function roleProxyUrl(proxy: RoleProxy): string {
  const auth = proxy.username
    ? `${encodeURIComponent(proxy.username)}${proxy.password ? `:${encodeURIComponent(proxy.password)}` : ''}@`
    : '';
  return `http://${auth}${proxy.host}:${proxy.port}`;
}

export async function createAgent(settings: AgentSettings): Promise<ProxyAgent> {
  const ClearanceProxyAgent = await (agentClass ??= defineAgentClass());
  const options: ProxyAgentOptions = { keepAlive: true, rejectUnauthorized: true };
  if (settings.ca) options.ca = settings.ca;
  const proxy = settings.proxy;
  if (proxy?.enabled) {
    // The credentials go in a header, not in the proxy URL: the agents log their proxy
    // URL under DEBUG=*proxy-agent and cache agents by it.
    const authorization = proxyAuthorization(proxy);
    if (authorization) options.headers = { 'Proxy-Authorization': authorization };
    const url = `http://${proxy.host}:${proxy.port}`;
    // Every host, loopback included, goes through the role's proxy: no NO_PROXY here.
    options.getProxyForUrl = () => url;
  }
  return new ClearanceProxyAgent(options);
}

type ConnectOptions = Parameters<ProxyAgent['connect']>[1] & { checkServerIdentity?: typeof tls.checkServerIdentity };
type QueuedRequest = {
  outputData?: { data: unknown }[];
  _headerSent?: boolean;
  _header?: string | null;
  _implicitHeader?: () => void;
};

let agentClass: Promise<typeof ProxyAgent> | undefined;

/**
 * proxy-agent with two repairs, found by the tests through a real proxy:
 * - https through a CONNECT tunnel to an IP address checked the certificate against
 *   "localhost" (no SNI name for an IP, no host left in the TLS options);
 * - http through a proxy (http-proxy-agent) sent the request header a second time when
 *   the body was still streaming as the connection opened (a throttled upload): it
 *   rewrites the queued header but leaves the request believing none was queued;
 * - concurrent first calls made one inner agent (and connection pool) each; see connect();
 * - http through a proxy on a kept-alive connection went out in origin form (`GET /path`,
 *   without Proxy-Authorization), which RFC 9112 §3.2.2 forbids towards a proxy: squid
 *   answers 400. ProxyAgent picks its inner agent asynchronously, so node-fetch has
 *   already ended the request, and its header (built with the origin-form path) sits in
 *   the request's output queue, when http-proxy-agent's addRequest() makes the path
 *   absolute and adds the proxy headers. Only its connect() (a new connection) rewrites
 *   that queued header; a free kept-alive socket is handed over with the stale one.
 *   We rewrite it in addRequest() too, before the socket is written (the next tick).
 */
async function defineAgentClass(): Promise<typeof ProxyAgent> {
  const { ProxyAgent } = await import('proxy-agent');
  const repaired = new WeakSet<object>();
  return class ClearanceProxyAgent extends ProxyAgent {
    private picking: Promise<unknown> = Promise.resolve();

    override connect(req: Parameters<ProxyAgent['connect']>[0], opts: ConnectOptions): ReturnType<ProxyAgent['connect']> {
      // One at a time: concurrent first calls would each miss the cache while the first
      // one imports http-proxy-agent, each make an inner agent, and the cache would keep
      // (and close()) only the last one, leaving the others' kept-alive sockets open.
      const picked = this.picking.then(() => this.pick(req, opts));
      this.picking = picked.catch(() => undefined);
      return picked;
    }

    private async pick(req: Parameters<ProxyAgent['connect']>[0], opts: ConnectOptions): ReturnType<ProxyAgent['connect']> {
      const host = opts.host;
      if (opts.secureEndpoint && host && net.isIP(host) && !opts.checkServerIdentity) {
        opts.checkServerIdentity = (_servername, cert) => tls.checkServerIdentity(host, cert);
      }
      const agent = await super.connect(req, opts);
      const viaProxy = agent !== this.httpAgent && agent !== this.httpsAgent;
      const proxyUrl = (agent as { proxy?: unknown }).proxy;
      if (viaProxy && !opts.secureEndpoint && proxyUrl instanceof URL && /^https?:$/.test(proxyUrl.protocol) && !repaired.has(agent)) {
        repaired.add(agent);
        const original = agent as unknown as {
          connect: (r: unknown, o: unknown) => Promise<unknown>;
          addRequest: (r: unknown, o: unknown) => void;
        };
        const connect = original.connect.bind(agent);
        original.connect = async (r, o) => {
          const socket = await connect(r, o);
          const queued = r as QueuedRequest;
          if (queued.outputData && queued.outputData.length > 0) queued._headerSent = true;
          return socket;
        };
        const addRequest = original.addRequest.bind(agent);
        original.addRequest = (r, o) => {
          // Absolute-form path and Proxy-* headers; may hand a kept-alive socket over (written next tick).
          addRequest(r, o);
          rewriteQueuedHeader(r as QueuedRequest);
        };
      }
      return agent;
    }
  };
}

/**
 * Rebuilds the header of a request that already queued it (before it had a socket) from
 * the request's current path and headers, in place in the output queue, as
 * http-proxy-agent's connect() does for a new connection.
 */
function rewriteQueuedHeader(req: QueuedRequest): void {
  const first = req.outputData?.[0];
  if (!first || typeof first.data !== 'string' || typeof req._implicitHeader !== 'function') return;
  const endOfHeader = first.data.indexOf('\r\n\r\n');
  if (endOfHeader < 0) return;
  req._header = null;
  req._implicitHeader();
  first.data = `${req._header ?? ''}${first.data.substring(endOfHeader + 4)}`;
  // The header is in the queue: the request must not prepend it again to its next write.
  req._headerSent = true;
}

/** Node's bundled roots plus the given PEM certificates (TLS verification stays on). */
export function caListWith(extraPem: string): string[] {
  const blocks = extraPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks || blocks.length === 0) throw new Error('The extra CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----).');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new Error(`Certificate ${i + 1} of the extra CA file is not a valid X.509 certificate.`);
    }
  });
  return [...tls.rootCertificates, ...blocks];
}
