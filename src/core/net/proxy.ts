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
type QueuedRequest = { outputData?: unknown[]; _headerSent?: boolean };

let agentClass: Promise<typeof ProxyAgent> | undefined;

/**
 * proxy-agent with two repairs, found by the tests through a real proxy:
 * - https through a CONNECT tunnel to an IP address checked the certificate against
 *   "localhost" (no SNI name for an IP, no host left in the TLS options);
 * - http through a proxy (http-proxy-agent) sent the request header a second time when
 *   the body was still streaming as the connection opened (a throttled upload): it
 *   rewrites the queued header but leaves the request believing none was queued.
 */
async function defineAgentClass(): Promise<typeof ProxyAgent> {
  const { ProxyAgent } = await import('proxy-agent');
  const repaired = new WeakSet<object>();
  return class ClearanceProxyAgent extends ProxyAgent {
    override async connect(req: Parameters<ProxyAgent['connect']>[0], opts: ConnectOptions): ReturnType<ProxyAgent['connect']> {
      const host = opts.host;
      if (opts.secureEndpoint && host && net.isIP(host) && !opts.checkServerIdentity) {
        opts.checkServerIdentity = (_servername, cert) => tls.checkServerIdentity(host, cert);
      }
      const agent = await super.connect(req, opts);
      const viaProxy = agent !== this.httpAgent && agent !== this.httpsAgent;
      const proxyUrl = (agent as { proxy?: unknown }).proxy;
      if (viaProxy && !opts.secureEndpoint && proxyUrl instanceof URL && /^https?:$/.test(proxyUrl.protocol) && !repaired.has(agent)) {
        repaired.add(agent);
        const original = agent as unknown as { connect: (r: unknown, o: unknown) => Promise<unknown> };
        const connect = original.connect.bind(agent);
        original.connect = async (r, o) => {
          const socket = await connect(r, o);
          const queued = r as QueuedRequest;
          if (queued.outputData && queued.outputData.length > 0) queued._headerSent = true;
          return socket;
        };
      }
      return agent;
    }
  };
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
