// TLS verification is always on: a server signed by a private CA is refused until that
// CA is given as the extra CA file, a wrong host name is refused even then, and the
// NODE_TLS_REJECT_UNAUTHORIZED switch changes nothing.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ManualClock } from '../../../src/core/net/clock';
import { NetworkError } from '../../../src/core/net/errors';
import { HttpClient } from '../../../src/core/net/httpClient';
import { makeTestPki, startTarget, type Target, type TestPki } from './loopback';

describe('HttpClient TLS', () => {
  let pki: TestPki;
  let target: Target;
  const clients: HttpClient[] = [];

  before(async () => {
    pki = makeTestPki();
    target = await startTarget(
      (_q, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"secure":true}');
      },
      { key: pki.serverKey, cert: pki.serverCert },
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await target?.stop();
    pki?.remove();
  });

  async function client(extraCaFile?: string): Promise<HttpClient> {
    const c = await HttpClient.create({ clock: new ManualClock(), ...(extraCaFile ? { extraCaFile } : {}) });
    clients.push(c);
    return c;
  }

  it('refuses a server whose CA it does not know, says what to do, and does not retry', async () => {
    const seenBefore = target.seen.length;
    const c = await client();
    const err = await c.request(`${target.url}/x`).catch((e: unknown) => e);
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.attempts, 1);
    assert.match(err.code ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    assert.match(err.message, /TLS certificate is not trusted .*add it as an extra CA file/);
    assert.equal(target.seen.length - seenBefore, 0, 'no request reached the server');
  });

  it('accepts it with the CA as the extra CA file (on top of the default roots)', async () => {
    const seenBefore = target.seen.length;
    const c = await client(pki.caFile);
    const res = await c.request(`${target.url}/x`);
    assert.deepEqual(res.json(), { secure: true });
    assert.equal(target.seen.length - seenBefore, 1, 'exactly this request reached the server');
  });

  it('refuses it with an unrelated CA, and refuses a host name the certificate does not name', async () => {
    const seenBefore = target.seen.length;
    const other = await client(pki.otherCaFile);
    const err = await other.request(`${target.url}/x`).catch((e: unknown) => e);
    assert.ok(err instanceof NetworkError);

    const right = await client(pki.caFile);
    const wrongName = await right.request(`https://localhost:${target.port}/x`).catch((e: unknown) => e);
    assert.ok(wrongName instanceof NetworkError, String(wrongName));
    assert.equal(wrongName.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.match(wrongName.message, /not issued for this host name/);
    assert.equal(wrongName.attempts, 1);
    assert.equal(target.seen.length - seenBefore, 0, 'no request reached the server');
  });

  it('keeps verifying when NODE_TLS_REJECT_UNAUTHORIZED=0 is set', async () => {
    const seenBefore = target.seen.length;
    const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    // Kept to be put back as is (never called here), so `this` does not matter.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const warn = process.emitWarning;
    process.emitWarning = () => undefined; // Node warns about the variable itself
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      const c = await client();
      const err = await c.request(`${target.url}/x`).catch((e: unknown) => e);
      assert.ok(err instanceof NetworkError, String(err));
    } finally {
      if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
      process.emitWarning = warn;
    }
    assert.equal(target.seen.length - seenBefore, 0, 'no request reached the server');
  });

  it('says clearly when the extra CA file is missing or holds no certificate', async () => {
    const missing = path.join(pki.dir, 'nope.pem');
    await assert.rejects(HttpClient.create({ extraCaFile: missing }), (e: Error) => e.message.includes(missing) && /ENOENT/.test(e.message));
    const notPem = path.join(pki.dir, 'not.pem');
    fs.writeFileSync(notPem, 'hello');
    await assert.rejects(HttpClient.create({ extraCaFile: notPem }), /holds no PEM certificate/);
    const broken = path.join(pki.dir, 'broken.pem');
    fs.writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await assert.rejects(HttpClient.create({ extraCaFile: broken }), /Certificate 1 of the extra CA file is not a valid X\.509 certificate/);
  });
});
