// Many calls on kept-alive connections through two real forward proxies with Basic
// authentication: Debian's squid (which answers 400 to an origin-form request line) and
// the npm `proxy` package. Each proxy's own record is the witness: N calls for http://
// targets give N requests in absolute form (RFC 9112 §3.2.2) and no 400; https:// targets
// go through CONNECT; a wrong password is one 407 per call, never a storm of retries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { ManualClock } from '../../../src/core/net/clock';
import { NetworkError, ProxyAuthenticationError } from '../../../src/core/net/errors';
import { HttpClient, type HttpClientOptions, type RetryNotice } from '../../../src/core/net/httpClient';
import type { RoleProxy } from '../../../src/core/net/proxy';
import { clearProxyEnvironment, closedPort, makeTestPki, startTarget, type Target, type TestPki } from './loopback';
import { startSquid, type Squid } from './squid';

const USER = 'site-operator';
const PASSWORD = 'p@ss:w0rd é!'; // ':' and non-ASCII: both must survive Basic encoding and the password file

/** What a proxy saw, from its own record: one entry per request line it answered. */
interface ProxyRecord {
  /** One per TCP connection from the client. */
  clientPort: number;
  method: string;
  url: string;
  status: number;
}

interface ProxyUnderTest {
  port: number;
  /** The record, once it holds at least `count` entries (squid logs a line as a transaction ends). */
  records(count: number): Promise<ProxyRecord[]>;
  /** Client connections open now (only where the proxy tells). */
  openConnections?: () => number;
  stop(): Promise<void>;
}

async function squidUnderTest(): Promise<ProxyUnderTest & { squid: Squid }> {
  const squid = await startSquid({ username: USER, password: PASSWORD });
  return {
    squid,
    port: squid.port,
    records: async (count) => (await squid.waitForLog(count)).map((l) => ({ clientPort: l.clientPort, method: l.method, url: l.url, status: l.status })),
    stop: () => squid.stop(),
  };
}

/** The npm `proxy` package, recording every request line and the status it answered. */
async function npmProxyUnderTest(): Promise<ProxyUnderTest> {
  const { createProxy } = await import('proxy');
  const server = createProxy(http.createServer());
  const seen: ProxyRecord[] = [];
  server.authenticate = (req) => {
    const m = /^Basic (.+)$/.exec(req.headers['proxy-authorization'] ?? '');
    return (m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '') === `${USER}:${PASSWORD}`;
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const record = { clientPort: req.socket.remotePort ?? 0, method: req.method ?? '', url: req.url ?? '', status: 0 };
    res.on('finish', () => {
      record.status = res.statusCode;
      seen.push(record);
    });
  });
  server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
    // The package answers CONNECT on the raw socket: read the status it writes.
    const record = { clientPort: socket.remotePort ?? 0, method: 'CONNECT', url: req.url ?? '', status: 0 };
    seen.push(record);
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (record.status === 0) record.status = Number(/^HTTP\/1\.\d (\d{3})/.exec(String(chunk))?.[1] ?? 0);
      return write(chunk, ...rest);
    }) as typeof socket.write;
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    openConnections: () => sockets.size,
    records: async (count) => {
      const deadline = Date.now() + 5000;
      while (seen.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return [...seen];
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The number of records once no more arrive (squid logs a closed tunnel a moment later). */
async function settled(proxy: ProxyUnderTest): Promise<number> {
  let count = (await proxy.records(0)).length;
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = (await proxy.records(0)).length;
    if (now === count) return count;
    count = now;
  }
}

const PROXIES: [string, () => Promise<ProxyUnderTest>][] = [
  ['squid', squidUnderTest],
  ['the npm proxy package', npmProxyUnderTest],
];

for (const [name, start] of PROXIES) {
  describe(`HttpClient through ${name}, kept-alive connections`, function () {
    this.timeout(60_000);
    let proxy: ProxyUnderTest;
    let target: Target;
    let secureTarget: Target;
    let pki: TestPki;
    let restoreEnvironment = () => undefined as void;
    let retries: RetryNotice[];
    let earlier: number; // records of earlier tests
    const clients: HttpClient[] = [];

    const roleProxy = (password = PASSWORD, port = proxy.port): RoleProxy => ({ enabled: true, host: '127.0.0.1', port, username: USER, password });
    async function client(options: HttpClientOptions = {}): Promise<HttpClient> {
      const c = await HttpClient.create({ clock: new ManualClock(), proxy: roleProxy(), onRetry: (n) => retries.push(n), ...options });
      clients.push(c);
      return c;
    }
    /** The records of this test alone. */
    const records = async (count: number): Promise<ProxyRecord[]> => (await proxy.records(earlier + count)).slice(earlier);

    before(async () => {
      pki = makeTestPki();
      proxy = await start();
      const answer = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: req.url, method: req.method, received: body.length }));
      };
      target = await startTarget(answer);
      secureTarget = await startTarget(answer, { key: pki.serverKey, cert: pki.serverCert });
    });
    after(async () => {
      await proxy?.stop();
      await target?.stop();
      await secureTarget?.stop();
      pki?.remove();
    });
    beforeEach(async () => {
      restoreEnvironment = clearProxyEnvironment();
      retries = [];
      target.seen.length = 0;
      secureTarget.seen.length = 0;
      earlier = await settled(proxy);
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.close();
      restoreEnvironment();
    });

    it('sends 30 sequential http calls (GET, POST, PUT, stream bodies) in absolute form, all on one kept-alive connection', async () => {
      const c = await client();
      const n = 30;
      const expected: string[] = [];
      for (let i = 0; i < n; i++) {
        const url = `${target.url}/seq/${i}?n=${i}`;
        expected.push(url);
        const kind = i % 4;
        const res =
          kind === 0
            ? await c.request(url)
            : kind === 1
              ? await c.request(url, { method: 'POST', body: `body ${i}`, retryable: true })
              : kind === 2
                ? await c.request(url, { method: 'PUT', body: Buffer.alloc(10_000 + i, i) })
                : await c.request(url, { method: 'PUT', body: () => Readable.from([Buffer.alloc(5000, 1), Buffer.alloc(i, 2)]), contentLength: 5000 + i });
        assert.equal(res.status, 200);
        assert.equal(res.attempts, 1, `call ${i} needed ${res.attempts} attempts`);
        assert.equal(res.json<{ path: string }>().path, `/seq/${i}?n=${i}`);
      }
      assert.deepEqual(retries, []);
      assert.equal(target.seen.length, n);
      const seen = await records(n);
      assert.equal(seen.length, n, `the proxy recorded ${seen.length} requests for ${n} calls`);
      assert.deepEqual(seen.map((r) => r.url), expected, 'every request line in absolute form');
      assert.deepEqual(seen.filter((r) => r.status !== 200), []);
      assert.equal(new Set(seen.map((r) => r.clientPort)).size, 1, 'one connection to the proxy, kept alive');
    });

    it('sends 3 waves of 10 concurrent http calls in absolute form, reusing the connections between waves', async () => {
      const c = await client();
      const expected: string[] = [];
      for (let wave = 0; wave < 3; wave++) {
        const calls = Array.from({ length: 10 }, (_, i) => {
          const url = `${target.url}/wave/${wave}/${i}`;
          expected.push(url);
          return i % 2 ? c.request(url, { method: 'PUT', body: `w${wave}c${i}` }) : c.request(url);
        });
        for (const res of await Promise.all(calls)) assert.equal(res.attempts, 1);
      }
      assert.deepEqual(retries, []);
      const seen = await records(30);
      assert.equal(seen.length, 30);
      assert.deepEqual(seen.map((r) => r.url).sort(), expected.sort());
      assert.deepEqual(seen.filter((r) => r.status !== 200), []);
      const connections = new Set(seen.map((r) => r.clientPort)).size;
      assert.ok(connections <= 10, `${connections} connections for 3 waves of 10 calls`);
      assert.equal(target.seen.length, 30);
      if (proxy.openConnections) {
        // close() ends every connection the client opened.
        c.close();
        const deadline = Date.now() + 2000;
        while (proxy.openConnections() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.equal(proxy.openConnections(), 0, 'connections left open after close()');
      }
    });

    it('tunnels https calls through CONNECT, one tunnel kept alive for sequential calls', async () => {
      const c = await client({ extraCaFile: pki.caFile });
      for (let i = 0; i < 8; i++) {
        const res = await c.request(`${secureTarget.url}/tls/${i}`, i % 2 ? { method: 'POST', body: 'x', retryable: true } : {});
        assert.equal(res.attempts, 1);
      }
      // A plain call in between uses its own connection, in absolute form.
      await c.request(`${target.url}/plain`);
      c.close(); // squid logs a tunnel when it closes
      const seen = await records(2);
      assert.deepEqual(
        seen.map((r) => `${r.method} ${r.url} ${r.status}`).sort(),
        [`CONNECT 127.0.0.1:${secureTarget.port} 200`, `GET ${target.url}/plain 200`].sort(),
      );
      assert.equal(secureTarget.seen.length, 8);
    });

    it('answers a wrong proxy password with one ProxyAuthenticationError per call, naming the proxy, never retried', async () => {
      const c = await client({ proxy: roleProxy('wrong-secret'), extraCaFile: pki.caFile, retry: { maxAttempts: 5 } });
      const urls = [`${target.url}/a`, `${target.url}/b`, `${secureTarget.url}/c`, `${target.url}/d`];
      for (const url of urls) {
        const err = await c.request(url).catch((e: unknown) => e);
        assert.ok(err instanceof ProxyAuthenticationError, `${url}: ${String(err)}`);
        assert.equal(err.status, 407);
        assert.equal(err.attempts, 1);
        assert.equal(err.proxy, `127.0.0.1:${proxy.port}`);
        assert.match(err.message, /^The proxy 127\.0\.0\.1:\d+ refused the credentials \(407 Proxy Authentication Required\)/);
        assert.doesNotMatch(err.message, /wrong-secret|site-operator/);
      }
      assert.deepEqual(retries, []);
      const seen = await records(urls.length);
      await new Promise((r) => setTimeout(r, 200)); // nothing more comes
      const all = (await proxy.records(0)).slice(earlier);
      assert.equal(all.length, urls.length, `the proxy saw ${all.length} attempts for ${urls.length} calls: ${JSON.stringify(all)}`);
      assert.deepEqual(seen.map((r) => r.status), urls.map(() => 407));
      assert.equal(target.seen.length + secureTarget.seen.length, 0);
    });

    it('reports a proxy that is down as a network error naming the proxy', async () => {
      const down = await closedPort();
      const c = await client({ proxy: roleProxy(PASSWORD, down), extraCaFile: pki.caFile, retry: { maxAttempts: 3 } });
      for (const url of [`${target.url}/x`, `${secureTarget.url}/y`]) {
        const err = await c.request(url).catch((e: unknown) => e);
        assert.ok(err instanceof NetworkError, String(err));
        assert.equal(err.code, 'ECONNREFUSED');
        assert.equal(err.attempts, 3);
        assert.equal(err.message, `GET ${url} failed (through proxy 127.0.0.1:${down}): connection refused (ECONNREFUSED)`);
      }
      assert.equal(retries.length, 4);
      assert.equal(target.seen.length + secureTarget.seen.length, 0);
    });
  });
}

// docs/platform-notes.md §3: the extension runs HttpClient from a minified CommonJS bundle;
// the keep-alive repair reaches into Node's request internals, so check it there too.
const BUNDLE_ENTRY = `
import { HttpClient } from './src/core/net/httpClient';
const [port, user, password, base] = process.argv.slice(2);
(async () => {
  const client = await HttpClient.create({ proxy: { enabled: true, host: '127.0.0.1', port: Number(port), username: user, password } });
  const attempts = [];
  for (let i = 0; i < 10; i++) attempts.push((await client.request(base + '/seq/' + i)).attempts);
  const wave = await Promise.all(Array.from({ length: 5 }, (_, i) => client.request(base + '/wave/' + i, { method: 'PUT', body: 'x' + i })));
  for (const r of wave) attempts.push(r.attempts);
  client.close();
  process.stdout.write(JSON.stringify(attempts));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

describe('HttpClient from the CommonJS bundle through squid, kept-alive connections', function () {
  this.timeout(60_000);
  let squid: Squid;
  let target: Target;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-bundle-squid-'));
    squid = await startSquid({ username: USER, password: PASSWORD });
    target = await startTarget((_q, res) => {
      res.end('ok');
    });
  });
  after(async () => {
    await squid?.stop();
    await target?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends 15 sequential and concurrent http calls in absolute form from a minified bundle', async () => {
    const outfile = path.join(dir, 'client.js');
    await esbuild.build({
      stdin: { contents: BUNDLE_ENTRY, resolveDir: path.resolve(__dirname, '../../..'), sourcefile: 'bundle-entry.ts', loader: 'ts' },
      bundle: true,
      minify: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile,
      logLevel: 'silent',
      define: { 'import.meta.url': 'importMetaUrl' },
      banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
    });
    const { stdout } = await promisify(execFile)(process.execPath, [outfile, String(squid.port), USER, PASSWORD, target.url], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.deepEqual(JSON.parse(stdout), Array(15).fill(1));
    const lines = await squid.waitForLog(15);
    assert.equal(lines.length, 15);
    assert.deepEqual(
      lines.map((l) => `${l.method} ${l.url} ${l.status}`).sort(),
      [...Array.from({ length: 10 }, (_, i) => `GET ${target.url}/seq/${i} 200`), ...Array.from({ length: 5 }, (_, i) => `PUT ${target.url}/wave/${i} 200`)].sort(),
    );
    assert.ok(new Set(lines.map((l) => l.clientPort)).size <= 5, 'connections kept alive');
  });
});
