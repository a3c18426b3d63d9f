// Real servers on 127.0.0.1 for the network tests: a target server whose handler the
// test writes, an https variant, and a forward proxy (the `proxy` package) with Basic
// authentication. Each one closes every connection on stop.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Target {
  url: string;
  port: number;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, index: number) => void | Promise<void>;

/** A server that records every request (with its whole body) before the handler answers. */
export async function startTarget(handler: Handler, tlsOptions?: { key: string; cert: string }): Promise<Target> {
  const seen: SeenRequest[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const index = seen.length;
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      void Promise.resolve(handler(req, res, body, index)).catch(() => res.destroy());
    });
  };
  const server = tlsOptions ? https.createServer(tlsOptions, listener) : http.createServer(listener);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tlsOptions ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    stop: () => closeServer(server, sockets),
  };
}

export interface ForwardProxy {
  port: number;
  /** `GET http://…` requests (plain http targets) and CONNECT tunnels (https targets). */
  forwarded: { method: string; url: string; authorization?: string }[];
  /** Requests refused with 407. */
  refused: number;
  /** Parse errors on connections from clients (bytes that are not HTTP). */
  malformed: string[];
  stop(): Promise<void>;
}

/** The `proxy` package (ESM-only) on loopback (on `port`, or any free one); with `credentials`, Basic auth is required. */
export async function startProxy(credentials?: { username: string; password: string }, port = 0): Promise<ForwardProxy> {
  const { createProxy } = await import('proxy');
  const server = createProxy(http.createServer());
  const result: ForwardProxy = { port: 0, forwarded: [], refused: 0, malformed: [], stop: async () => undefined };
  server.authenticate = (req) => {
    const authorization = req.headers['proxy-authorization'];
    let ok = true;
    if (credentials) {
      const m = /^Basic (.+)$/.exec(authorization ?? '');
      const decoded = m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '';
      ok = decoded === `${credentials.username}:${credentials.password}`;
    }
    if (ok) result.forwarded.push({ method: req.method ?? '', url: req.url ?? '', ...(authorization ? { authorization } : {}) });
    else result.refused++;
    return ok;
  };
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  result.port = (server.address() as AddressInfo).port;
  // A client that sends more than it announced shows up here (e.g. a header sent twice).
  server.on('clientError', (e: Error & { code?: string }) => result.malformed.push(e.code ?? e.message));
  result.stop = () => closeServer(server, sockets);
  return result;
}

async function closeServer(server: http.Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const PROXY_ENV_KEYS = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'];

/** Clears the proxy variables of the environment (only a test's own proxy setting counts); the answer puts them back. */
export function clearProxyEnvironment(): () => void {
  const saved = Object.fromEntries(PROXY_ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of PROXY_ENV_KEYS) delete process.env[k];
  return () => {
    for (const k of PROXY_ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  };
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TestPki {
  dir: string;
  caFile: string;
  /** A second, unrelated CA: a valid PEM that does not sign our server. */
  otherCaFile: string;
  serverKey: string;
  serverCert: string;
  remove(): void;
}

/** A CA and a server certificate for IP 127.0.0.1 signed by it, made with the openssl CLI. */
export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-pki-'));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    run('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=Clearance test ${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2',
    '-extfile', 'server.ext');
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    otherCaFile: path.join(dir, 'other-ca.crt'),
    serverKey: fs.readFileSync(path.join(dir, 'server.key'), 'utf8'),
    serverCert: fs.readFileSync(path.join(dir, 'server.crt'), 'utf8'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
