// docs/platform-notes.md §3: node-fetch 3 and proxy-agent are ESM-only; inside the extension they run
// from an esbuild CommonJS bundle. This builds HttpClient the way scripts/build.mjs does
// (minified, as in the .vsix) and drives it through the real proxy from a child process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { makeTestPki, startProxy, startTarget, type ForwardProxy, type Target, type TestPki } from './loopback';

const root = path.resolve(__dirname, '../../..');

const entry = `
import { Readable } from 'node:stream';
import { HttpClient } from './src/core/net/httpClient';
import { TokenBucket, throttle } from './src/core/net/bandwidth';
import { ManualClock } from './src/core/net/clock';
const [port, plainUrl, secureUrl, caFile] = process.argv.slice(2);
(async () => {
  const client = await HttpClient.create({
    proxy: { enabled: true, host: '127.0.0.1', port: Number(port), username: 'u', password: 'secret' },
    extraCaFile: caFile,
  });
  const bucket = new TokenBucket(1, { clock: new ManualClock(0) });
  const data = Buffer.alloc(200000, 9);
  const plain = await client.request(plainUrl, { method: 'PUT', body: () => Readable.from([data]).pipe(throttle(bucket)), contentLength: data.length });
  const secure = await client.request(secureUrl);
  client.close();
  process.stdout.write(JSON.stringify({ plain: plain.text(), secure: secure.text(), granted: bucket.granted }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

describe('HttpClient from the CommonJS bundle', function () {
  this.timeout(30_000);
  let dir: string;
  let pki: TestPki;
  let proxy: ForwardProxy;
  let plain: Target;
  let secure: Target;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-bundle-'));
    pki = makeTestPki();
    proxy = await startProxy({ username: 'u', password: 'secret' });
    const answer = (_q: unknown, res: import('node:http').ServerResponse, body: Buffer): void => {
      res.end(`got ${body.length}`);
    };
    plain = await startTarget(answer);
    secure = await startTarget(answer, { key: pki.serverKey, cert: pki.serverCert });
  });
  after(async () => {
    await proxy?.stop();
    await plain?.stop();
    await secure?.stop();
    pki?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reaches http and https targets through the role proxy, throttled, from a minified bundle', async () => {
    const outfile = path.join(dir, 'client.js');
    await esbuild.build({
      stdin: { contents: entry, resolveDir: root, sourcefile: 'bundle-entry.ts', loader: 'ts' },
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
    const { stdout } = await promisify(execFile)(process.execPath, [outfile, String(proxy.port), `${plain.url}/blob`, `${secure.url}/x`, pki.caFile], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.deepEqual(JSON.parse(stdout), { plain: 'got 200000', secure: 'got 0', granted: 200000 });
    assert.deepEqual(proxy.forwarded.map((f) => f.method), ['PUT', 'CONNECT']);
    assert.deepEqual(proxy.malformed, []);
  });
});
