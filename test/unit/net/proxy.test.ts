// The role's proxy and the environment's, with a real forward proxy on loopback (the
// `proxy` package) that demands Basic credentials.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { TokenBucket, throttle } from '../../../src/core/net/bandwidth';
import { ManualClock } from '../../../src/core/net/clock';
import { NetworkError, ProxyAuthenticationError } from '../../../src/core/net/errors';
import { HttpClient } from '../../../src/core/net/httpClient';
import { describeProxy, proxyAuthorization, roleProxyUrl, type RoleProxy } from '../../../src/core/net/proxy';
import { clearProxyEnvironment, type ForwardProxy, makeTestPki, startProxy, startTarget, type Target, type TestPki } from './loopback';

const USER = 'site-operator';
const PASSWORD = 'p@ss:w0rd é!'; // ':' and non-ASCII: both must survive Basic encoding

describe('HttpClient through a proxy', () => {
  let proxy: ForwardProxy;
  let target: Target;
  let secureTarget: Target;
  let pki: TestPki;
  let restoreEnvironment = () => undefined as void;
  const clients: HttpClient[] = [];

  const roleProxy = (password = PASSWORD): RoleProxy => ({ enabled: true, host: '127.0.0.1', port: proxy.port, username: USER, password });
  async function client(options: Parameters<typeof HttpClient.create>[0] = {}): Promise<HttpClient> {
    const c = await HttpClient.create({ clock: new ManualClock(), retry: { maxAttempts: 2 }, ...options });
    clients.push(c);
    return c;
  }
  const answer = (_q: unknown, res: import('node:http').ServerResponse, body: Buffer): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ received: body.length, sha256: createHash('sha256').update(body).digest('hex') }));
  };

  before(async () => {
    pki = makeTestPki();
    proxy = await startProxy({ username: USER, password: PASSWORD });
    target = await startTarget(answer);
    secureTarget = await startTarget(answer, { key: pki.serverKey, cert: pki.serverCert });
  });
  after(async () => {
    await proxy?.stop();
    await target?.stop();
    await secureTarget?.stop();
    pki?.remove();
  });
  beforeEach(() => {
    restoreEnvironment = clearProxyEnvironment();
    proxy.forwarded.length = 0;
    proxy.refused = 0;
    proxy.malformed.length = 0;
    target.seen.length = 0;
    secureTarget.seen.length = 0;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    restoreEnvironment();
  });

  it('sends plain http calls through the role proxy with Proxy-Authorization, which the target never sees', async () => {
    const c = await client({ proxy: roleProxy() });
    const res = await c.request(`${target.url}/api/v1/x`, { method: 'POST', body: 'hello' });
    assert.deepEqual(res.json<{ received: number }>().received, 5);
    assert.equal(proxy.forwarded.length, 1);
    assert.equal(proxy.forwarded[0]?.url, `${target.url}/api/v1/x`);
    assert.equal(proxy.forwarded[0]?.authorization, proxyAuthorization(roleProxy()));
    assert.match(String(target.seen[0]?.headers.via), /proxy\//);
    assert.equal(target.seen[0]?.headers['proxy-authorization'], undefined);
  });

  it('tunnels https calls through the role proxy (CONNECT with credentials), still verifying TLS end to end', async () => {
    const c = await client({ proxy: roleProxy(), extraCaFile: pki.caFile });
    const res = await c.request(`${secureTarget.url}/secure`);
    assert.equal(res.status, 200);
    assert.deepEqual(proxy.forwarded.map((f) => f.method), ['CONNECT']);
    assert.equal(proxy.forwarded[0]?.url, `127.0.0.1:${secureTarget.port}`);
    assert.equal(secureTarget.seen[0]?.headers.via, undefined); // a tunnel: the proxy did not read the request

    const wrongName = await c.request(`https://localhost:${secureTarget.port}/secure`).catch((e: unknown) => e);
    assert.ok(wrongName instanceof NetworkError, String(wrongName));
    assert.equal(wrongName.code, 'ERR_TLS_CERT_ALTNAME_INVALID');

    const untrusted = await client({ proxy: roleProxy() });
    const err = await untrusted.request(`${secureTarget.url}/secure`).catch((e: unknown) => e);
    assert.ok(err instanceof NetworkError, String(err));
    assert.match(err.message, /through proxy 127\.0\.0\.1:\d+\): the server's TLS certificate is not trusted/);
  });

  it('turns a 407 into ProxyAuthenticationError that names the proxy, never the password, and does not retry', async () => {
    const c = await client({ proxy: roleProxy('wrong-secret') });
    for (const url of [`${target.url}/plain`, `${secureTarget.url}/tunnel`]) {
      const err = await c.request(url).catch((e: unknown) => e);
      assert.ok(err instanceof ProxyAuthenticationError, `${url}: ${String(err)}`);
      assert.equal(err.status, 407);
      assert.equal(err.proxy, `127.0.0.1:${proxy.port}`);
      assert.match(err.message, /The proxy 127\.0\.0\.1:\d+ refused the credentials .* check the proxy user name and password in Role Properties/);
      assert.doesNotMatch(err.message, /wrong-secret|site-operator/);
      assert.equal(err.attempts, 1);
    }
    assert.equal(proxy.refused, 2);
    assert.equal(target.seen.length + secureTarget.seen.length, 0);
  });

  it('goes through the role proxy for every host, whatever NO_PROXY says', async () => {
    process.env.NO_PROXY = '*';
    const c = await client({ proxy: roleProxy() });
    await c.request(`${target.url}/x`);
    assert.equal(proxy.forwarded.length, 1);
  });

  it('without the role proxy uses the environment\'s (HTTP_PROXY / HTTPS_PROXY), and honours NO_PROXY', async () => {
    const envProxy = `http://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${proxy.port}`;
    process.env.HTTP_PROXY = envProxy;
    process.env.HTTPS_PROXY = envProxy;
    const c = await client({ extraCaFile: pki.caFile, proxy: { enabled: false, host: '', port: 8080, username: '' } });
    await c.request(`${target.url}/via-env`);
    await c.request(`${secureTarget.url}/via-env`);
    assert.deepEqual(proxy.forwarded.map((f) => f.method), ['GET', 'CONNECT']);

    process.env.NO_PROXY = 'localhost,127.0.0.1';
    await c.request(`${target.url}/direct`);
    await c.request(`${secureTarget.url}/direct`);
    assert.equal(proxy.forwarded.length, 2);
    assert.equal(target.seen.length, 2);
    assert.equal(target.seen[1]?.headers.via, undefined);
  });

  it('explains a 407 from the environment\'s proxy', async () => {
    process.env.HTTP_PROXY = `http://127.0.0.1:${proxy.port}`; // no credentials
    const c = await client();
    const err = await c.request(`${target.url}/x`).catch((e: unknown) => e);
    assert.ok(err instanceof ProxyAuthenticationError, String(err));
    assert.equal(err.proxy, undefined);
    assert.match(err.message, /proxy from the environment \(HTTPS_PROXY \/ HTTP_PROXY\)/);
  });

  it('switches to the role proxy when the properties change (reconfigure)', async () => {
    const c = await client();
    await c.request(`${target.url}/before`);
    assert.equal(proxy.forwarded.length, 0);
    await c.reconfigure({ proxy: roleProxy() });
    await c.request(`${target.url}/after`);
    assert.equal(proxy.forwarded.length, 1);
    await c.reconfigure({});
    await c.request(`${target.url}/direct-again`);
    assert.equal(proxy.forwarded.length, 1);
    assert.equal(target.seen.length, 3);
  });

  it('keeps the bandwidth cap on through the proxy: the throttled body arrives whole, every byte counted by the bucket', async () => {
    const clock = new ManualClock(0); // the bucket's waits take no real time
    const bucket = new TokenBucket(2, { clock }); // 250,000 B/s
    const data = Buffer.alloc(1_500_000);
    for (let i = 0; i < data.length; i++) data[i] = i % 253;
    const c = await client({ proxy: roleProxy() });
    for (const url of [`${target.url}/blob?comp=block`, `${secureTarget.url}/blob?comp=block`]) {
      const before = bucket.granted;
      const start = clock.now();
      const c2 = url.startsWith('https') ? await client({ proxy: roleProxy(), extraCaFile: pki.caFile }) : c;
      const res = await c2.request(url, {
        method: 'PUT',
        body: () => Readable.from([data.subarray(0, 700_000), data.subarray(700_000)]).pipe(throttle(bucket)),
        contentLength: data.length,
      });
      const got = res.json<{ received: number; sha256: string }>();
      assert.equal(got.received, data.length);
      assert.equal(got.sha256, createHash('sha256').update(data).digest('hex'));
      assert.equal(bucket.granted - before, data.length);
      // 1.5 MB at 250,000 B/s: 6 s of bucket time.
      assert.ok(Math.abs(clock.now() - start - 6000) <= 100, `bucket time ${clock.now() - start} ms`);
    }
    assert.deepEqual(proxy.forwarded.map((f) => f.method), ['PUT', 'CONNECT']);
    assert.deepEqual(proxy.malformed, []); // the request went out exactly once, header and body
  });

  it('describes the proxy without credentials, and builds a URL-encoded proxy URL for child processes', () => {
    const p = roleProxy();
    assert.equal(describeProxy(p), `127.0.0.1:${proxy.port}`);
    assert.equal(describeProxy({ ...p, enabled: false }), undefined);
    assert.equal(proxyAuthorization(p), `Basic ${Buffer.from(`${USER}:${PASSWORD}`, 'utf8').toString('base64')}`);
    assert.equal(proxyAuthorization({ ...p, username: '' }), undefined);
    const url = new URL(roleProxyUrl(p));
    assert.equal(decodeURIComponent(url.username), USER);
    assert.equal(decodeURIComponent(url.password), PASSWORD);
  });
});
