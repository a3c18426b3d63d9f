// The role's real client stack (token, polling, document store, encrypted upload) against
// the local Clearance service, with every call going through squid with Basic
// authentication: squid's access log proves the traffic went through it, in absolute
// form on kept-alive connections, and that no call was refused (the 400 of issue 13).
import assert from 'node:assert/strict';
import { clearProxyEnvironment } from './loopback';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConnectionFile } from '../../../src/core/clearance/api';
import { BlobClient } from '../../../src/core/clearance/blobClient';
import { DocumentStoreClient } from '../../../src/core/clearance/documentStore';
import { ClearanceSession } from '../../../src/core/clearance/session';
import { TokenProvider } from '../../../src/core/clearance/tokenProvider';
import { systemClock } from '../../../src/core/net/clock';
import { HttpClient, type RetryNotice } from '../../../src/core/net/httpClient';
import { Poller } from '../../../src/core/requests/poller';
import { openQueue, plainSha256OfBlob, stageRandomFile, startService, waitForState, type ServiceClientStack, type ServiceFixture } from '../uploads/serviceFixture';
import { startSquid, type Squid, type SquidLogLine } from './squid';

const USER = 'site-operator';
const PASSWORD = 'p@ss:w0rd é!';

describe('the role client stack through squid, against the local service', function () {
  this.timeout(90_000);
  let fx: ServiceFixture;
  let squid: Squid;
  let stack: ServiceClientStack;
  let retries: RetryNotice[];
  let restoreEnvironment = () => undefined as void;

  async function proxiedStack(connection: ConnectionFile): Promise<ServiceClientStack> {
    const http = await HttpClient.create({
      timeoutMs: 60_000,
      retry: { baseDelayMs: 50, maxDelayMs: 500 },
      proxy: { enabled: true, host: '127.0.0.1', port: squid.port, username: USER, password: PASSWORD },
      onRetry: (n) => retries.push(n),
    });
    const tokens = new TokenProvider(http, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0]), async () => connection);
    const session = new ClearanceSession(http, tokens);
    return { connection, http, session, documents: DocumentStoreClient.forConnection(session, connection), blobs: new BlobClient(http) };
  }
  /** squid's lines since `from`, once no more arrive. */
  async function logSince(from: number): Promise<SquidLogLine[]> {
    let count = squid.accessLog().length;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const now = squid.accessLog().length;
      if (now === count) return squid.accessLog().slice(from);
      count = now;
    }
  }
  /** A log line without its query (SAS tokens). */
  const brief = (l: SquidLogLine): string => `${l.clientPort} ${l.result}/${l.status} ${l.method} ${l.url.replace(/\?.*$/, '')} ${l.user}`;
  function assertAllThroughProxy(lines: SquidLogLine[], what: string): void {
    assert.ok(lines.length > 0, `${what}: squid saw nothing`);
    const bad = lines.filter((l) => l.status < 200 || l.status >= 300 || !/^https?:\/\/127\.0\.0\.1:\d+\//.test(l.url) || l.user !== USER);
    assert.deepEqual(bad.map(brief), [], `${what}: every request in absolute form, authenticated, answered 2xx`);
  }

  before(async () => {
    restoreEnvironment = clearProxyEnvironment();
    squid = await startSquid({ username: USER, password: PASSWORD });
    fx = await startService();
  });
  after(async () => {
    stack?.http.close();
    await fx?.stop();
    await squid?.stop();
    restoreEnvironment();
  });
  beforeEach(async () => {
    retries = [];
    stack ??= await proxiedStack(fx.connection);
  });

  it('gets a token, polls, and reads the catalog and the encryption key through squid, on kept-alive connections', async () => {
    const from = squid.accessLog().length;
    const key = await stack.documents.encryptionKey(); // GET …/keystore/…/keys/encryption: the call that failed in issue 13
    assert.ok(key);
    const departments = await stack.documents.listDepartments();
    assert.ok(departments.length > 0);
    let ticks = 0;
    const poller = new Poller({
      intervalMs: () => 10,
      clock: systemClock,
      tick: async () => {
        await stack.documents.listCases();
        await stack.documents.listCategories();
        ticks++;
      },
    });
    poller.start();
    while (ticks < 10) await new Promise((r) => setTimeout(r, 10));
    await poller.stop();
    poller.dispose();
    const lines = await logSince(from);
    assertAllThroughProxy(lines, 'catalog and polling');
    assert.ok(lines.some((l) => /\/keys\/encryption/.test(l.url)), 'the encryption key came through squid');
    assert.ok(lines.filter((l) => l.method === 'GET').length >= 2 + 2 * ticks, `${lines.length} lines for ${ticks} polls`);
    assert.ok(lines.some((l) => l.method === 'POST'), 'the token request went through squid');
    const connections = new Set(lines.map((l) => l.clientPort)).size;
    assert.ok(connections <= 3, `${connections} connections for ${lines.length} requests: kept alive`);
    assert.deepEqual(retries, []);
  });

  it('uploads an encrypted two-part job through squid: every block, list and completion call went through it, none refused', async () => {
    const from = squid.accessLog().length;
    const dir = path.join(fx.dir, 'q-squid');
    fs.mkdirSync(dir, { recursive: true });
    const h = await openQueue(stack, dir, { blockSize: 64 * 1024 });
    try {
      const id = h.queue.newJobId();
      const parts = [stageRandomFile(h.queue, id, 'a.mp4', 300_001), stageRandomFile(h.queue, id, 'b.mp4', 7)];
      await h.queue.enqueue({ id, title: 'Through squid', evidence: { name: 'Through squid', description: 'proxy test' }, caseTarget: { kind: 'none' }, parts });
      h.queue.start();
      const done = await waitForState(h.queue, id, ['completed', 'failed']);
      assert.equal(done.state, 'completed', done.error);
      for (const p of done.parts) {
        const blob = await plainSha256OfBlob(fx, done.evidenceId!, p.resourceId!);
        assert.equal(blob.sha256, parts[p.index]!.sha256, `part ${p.name}`);
      }
    } finally {
      await h.close();
    }
    const lines = await logSince(from);
    assertAllThroughProxy(lines, 'upload');
    const blocks = lines.filter((l) => l.method === 'PUT' && /comp=block(&|$)/.test(l.url));
    // 300,001 bytes encrypted (+ padding) in 64 KiB blocks: 5 blocks; the 7-byte part: 1.
    assert.equal(blocks.length, 6, lines.map(brief).join('\n'));
    assert.ok(lines.some((l) => l.method === 'PUT' && /comp=blocklist/.test(l.url)), 'the block lists went through squid');
    assert.deepEqual(retries, []);
  });
});
