// HttpClient against real servers on loopback: retries (backoff with full jitter,
// Retry-After, cap), what is and is not retried, time limits, cut-off answers.
// Waits run on a ManualClock, so no test sleeps through a backoff.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { ManualClock } from '../../../src/core/net/clock';
import { NetworkError, ServiceError, storageErrorDetail, TimeoutError } from '../../../src/core/net/errors';
import { HttpClient, type HttpClientOptions, type RetryNotice } from '../../../src/core/net/httpClient';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfter } from '../../../src/core/net/retry';
import { closedPort, startTarget, type Handler, type Target } from './loopback';

const START = Date.UTC(2025, 0, 15, 12, 0, 0);

describe('HttpClient', () => {
  let target: Target | undefined;
  let client: HttpClient | undefined;
  let clock: ManualClock;
  let notices: RetryNotice[];

  beforeEach(() => {
    clock = new ManualClock(START);
    notices = [];
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await target?.stop();
    target = undefined;
  });

  async function setup(handler: Handler, options: HttpClientOptions = {}): Promise<{ target: Target; client: HttpClient }> {
    target = await startTarget(handler);
    client = await HttpClient.create({ clock, random: () => 0.5, onRetry: (n) => notices.push(n), ...options });
    return { target, client };
  }

  /** Answers the statuses in order (with optional headers), then 200 "ok". */
  const sequence =
    (...steps: { status: number; headers?: Record<string, string> }[]): Handler =>
    (_req, res, _body, i) => {
      const step = steps[i];
      if (step) {
        res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
        res.end(JSON.stringify({ error: 'busy', message: `step ${i}` }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, attempt: i + 1 }));
      }
    };

  it('retries 5xx and 429 with full-jitter backoff, waits as long as Retry-After asks, then succeeds', async () => {
    const { target: t, client: c } = await setup(sequence({ status: 503 }, { status: 429, headers: { 'retry-after': '3' } }, { status: 500 }));
    const res = await c.request(`${t.url}/things`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { ok: true, attempt: 4 });
    assert.equal(res.attempts, 4);
    assert.equal(t.seen.length, 4);
    // random() = 0.5: half of 500, then Retry-After 3 s (more than half of 1000), then half of 2000.
    assert.deepEqual(clock.sleeps, [250, 3000, 1000]);
    assert.deepEqual(notices.map((n) => n.attempt), [1, 2, 3]);
    assert.match(notices[0]?.reason ?? '', /503/);
  });

  it('caps the backoff and gives up after maxAttempts with the last answer', async () => {
    const { target: t, client: c } = await setup(
      (_q, res) => {
        res.writeHead(502);
        res.end('bad gateway');
      },
      { retry: { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 800 }, random: () => 0.999 },
    );
    const err = await c.request(`${t.url}/x`).catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError, String(err));
    assert.equal(err.status, 502);
    assert.equal(err.attempts, 5);
    assert.equal(t.seen.length, 5);
    // Ceilings 500, 1000→800, 2000→800, 4000→800.
    assert.deepEqual(clock.sleeps, [499, 799, 799, 799]);
  });

  it('computes full-jitter delays inside [0, min(cap, base * 2^n)) and reads both forms of Retry-After', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelayMs(1, policy, () => 0), 0);
    assert.equal(backoffDelayMs(3, policy, () => 0.5), 200);
    assert.equal(backoffDelayMs(10, policy, () => 0.5), 500);
    for (let n = 1; n < 12; n++) {
      const d = backoffDelayMs(n, policy, Math.random);
      assert.ok(d >= 0 && d < Math.min(1000, 100 * 2 ** (n - 1)), `retry ${n}: ${d}`);
    }
    assert.equal(parseRetryAfter('7', START), 7000);
    assert.equal(parseRetryAfter(new Date(START + 9000).toUTCString(), START), 9000);
    assert.equal(parseRetryAfter(new Date(START - 9000).toUTCString(), START), 0);
    assert.equal(parseRetryAfter('-1', START), undefined);
    assert.equal(parseRetryAfter('soon', START), undefined);
    assert.equal(parseRetryAfter(undefined, START), undefined);
    assert.deepEqual([408, 429, 500, 502, 503, 504].map(isRetryableStatus), [true, true, true, true, true, true]);
    assert.deepEqual([400, 401, 403, 404, 409, 412, 501, 505].map(isRetryableStatus), [false, false, false, false, false, false, false, false]);
  });

  it('honours an HTTP-date Retry-After', async () => {
    const { target: t, client: c } = await setup(sequence({ status: 503, headers: { 'retry-after': new Date(START + 5000).toUTCString() } }));
    const res = await c.request(`${t.url}/d`);
    assert.equal(res.attempts, 2);
    assert.deepEqual(clock.sleeps, [5000]);
  });

  it('does not wait in line for a Retry-After beyond the cap: the error carries it for the caller to reschedule', async () => {
    const { target: t, client: c } = await setup(sequence({ status: 503, headers: { 'retry-after': '600' } }), {
      retry: { maxRetryAfterMs: 120_000 },
    });
    const err = await c.request(`${t.url}/later`).catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError);
    assert.equal(err.status, 503);
    assert.equal(err.retryAfterMs, 600_000);
    assert.equal(t.seen.length, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  it('does not retry a POST unless the caller says it may; PUT and DELETE are retried', async () => {
    const { target: t, client: c } = await setup((req, res, _b, i) => {
      // Every odd request fails once.
      res.writeHead(i % 2 === 0 ? 503 : 201);
      res.end(req.method);
    });
    const post = await c.request(`${t.url}/create`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    assert.ok(post instanceof ServiceError);
    assert.equal(post.attempts, 1);
    assert.equal(t.seen.length, 1);

    t.seen.length = 0;
    const retried = await c.request(`${t.url}/create`, { method: 'POST', body: '{}', retryable: true });
    assert.equal(retried.status, 201);
    assert.equal(retried.attempts, 2);

    t.seen.length = 0;
    const put = await c.request(`${t.url}/blob`, { method: 'PUT', body: 'x' });
    assert.equal(put.attempts, 2);
    const del = await c.request(`${t.url}/blob`, { method: 'DELETE' });
    assert.equal(del.attempts, 2);

    t.seen.length = 0;
    const off = await c.request(`${t.url}/blob`, { method: 'GET', retryable: false }).catch((e: unknown) => e);
    assert.ok(off instanceof ServiceError);
    assert.equal(t.seen.length, 1);
  });

  it('does not retry other 4xx, and keeps SAS tokens and user info out of its messages', async () => {
    const { target: t, client: c } = await setup((_q, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end('{"error":"forbidden",\n"message":"no\u0007 access"}');
    });
    const url = `${t.url}/container/blob?sv=2024&sig=SAS-SECRET#frag`;
    const err = await c.request(url).catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError);
    assert.equal(err.status, 403);
    assert.equal(t.seen.length, 1);
    assert.doesNotMatch(err.message, /SECRET|sig=|\n/);
    assert.ok(!err.message.includes('\u0007'), 'no control character from the body');
    assert.equal(err.url, `${t.url}/container/blob`);
    assert.match(err.message, /403 Forbidden — \{"error":"forbidden", "message":"no access"\}/);

    // A URL the client will not send fails before any attempt, and is never retried.
    for (const [bad, why] of [
      [`${t.url.replace('://', '://someone:pw-SECRET@')}/x`, /must not carry a user name or password/],
      [`ftp://127.0.0.1:${t.port}/x?sig=SECRET`, /only http:\/\/ and https:\/\//],
      ['no-scheme/x', /not a valid absolute URL/],
    ] as const) {
      const refused = await c.request(bad).catch((e: unknown) => e);
      assert.ok(refused instanceof TypeError, String(refused));
      assert.match(refused.message, why);
      assert.doesNotMatch(refused.message, /SECRET/);
    }
    assert.equal(t.seen.length, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  it('does not retry a failure that is not the network\'s (a body factory that throws)', async () => {
    const { target: t, client: c } = await setup(sequence());
    const err = await c
      .request(`${t.url}/x`, {
        method: 'PUT',
        body: () => {
          throw new Error('cannot sign');
        },
      })
      .catch((e: unknown) => e);
    assert.equal((err as Error).message, 'cannot sign');
    assert.equal(t.seen.length, 0);
    assert.deepEqual(clock.sleeps, []);
  });

  it('sends a stream body once (it cannot be replayed) and a body factory again on each attempt', async () => {
    const { target: t, client: c } = await setup(sequence({ status: 503 }));
    const payload = Buffer.alloc(100_000, 7);
    const once = await c
      .request(`${t.url}/block`, { method: 'PUT', body: Readable.from([payload]), contentLength: payload.length })
      .catch((e: unknown) => e);
    assert.ok(once instanceof ServiceError);
    assert.equal(t.seen.length, 1);
    assert.equal(t.seen[0]?.headers['content-length'], String(payload.length));
    assert.equal(t.seen[0]?.headers['transfer-encoding'], undefined);

    t.seen.length = 0;
    target = await startTarget(sequence({ status: 503 }));
    await t.stop();
    let made = 0;
    const res = await c.request(`${target.url}/block`, {
      method: 'PUT',
      body: async () => {
        made++;
        return Readable.from([payload]);
      },
      contentLength: payload.length,
    });
    assert.equal(res.status, 200);
    assert.equal(made, 2);
    assert.equal(target.seen.length, 2);
    for (const s of target.seen) assert.ok(s.body.equals(payload));
  });

  it('retries a connection reset before the answer, and fails with NetworkError when the server is gone', async () => {
    const { target: t, client: c } = await setup((req, res, _b, i) => {
      if (i === 0) req.socket.destroy();
      else res.end('fine');
    });
    const res = await c.request(`${t.url}/flaky`);
    assert.equal(res.text(), 'fine');
    assert.equal(res.attempts, 2);

    const port = await closedPort();
    const err = await c.request(`http://127.0.0.1:${port}/none`).catch((e: unknown) => e);
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.attempts, DEFAULT_RETRY_POLICY.maxAttempts);
    assert.match(err.message, /GET http:\/\/127\.0\.0\.1:\d+\/none failed: connection refused/);
  });

  it('treats a connection reset in the middle of the answer body as a NetworkError, and retries it when safe', async () => {
    const cut: Handler = (_req, res, _b, i) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '100000' });
      if (i === 0 || i === 2) res.write(Buffer.alloc(1000), () => res.socket?.destroy());
      else res.end(Buffer.alloc(100000, 1));
    };
    const { target: t, client: c } = await setup(cut);
    const res = await c.request(`${t.url}/download`);
    assert.equal(res.body.length, 100000);
    assert.equal(res.attempts, 2);

    const err = await c.request(`${t.url}/download`, { method: 'POST', body: 'x' }).catch((e: unknown) => e);
    assert.ok(err instanceof NetworkError, String(err));
    assert.equal(err.attempts, 1);
    assert.match(err.message, /POST http:\/\/127\.0\.0\.1:\d+\/download failed: /);
    assert.equal(t.seen.length, 3);
  });

  it('treats a connection cut while sending the request body as a NetworkError; a body factory sends it again', async () => {
    let requests = 0;
    const received: number[] = [];
    const server = http.createServer((req, res) => {
      const n = ++requests;
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (n === 1 && size > 64 * 1024) req.socket.destroy(); // the first upload is cut mid-body
      });
      req.on('end', () => {
        received.push(size);
        res.end('stored');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/block`;
    try {
      client = await HttpClient.create({ clock, random: () => 0 });
      const payload = Buffer.alloc(4 * 1024 * 1024, 3);
      const res = await client.request(url, { method: 'PUT', body: () => Readable.from([payload]), contentLength: payload.length });
      assert.equal(res.text(), 'stored');
      assert.equal(res.attempts, 2);
      assert.deepEqual(received, [payload.length]);

      requests = 0;
      received.length = 0;
      const once = await client
        .request(url, { method: 'PUT', body: Readable.from([payload]), contentLength: payload.length })
        .catch((e: unknown) => e);
      assert.ok(once instanceof NetworkError, String(once));
      assert.equal(once.attempts, 1);
      assert.equal(requests, 1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fails a call that gets no answer within its time limit with TimeoutError, retrying where safe', async () => {
    const { target: t, client: c } = await setup(() => undefined /* never answers */, { timeoutMs: 150, retry: { maxAttempts: 2 } });
    const err = await c.request(`${t.url}/slow`).catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.timeoutMs, 150);
    assert.equal(err.attempts, 2);
    assert.equal(t.seen.length, 2);
    assert.match(err.message, /GET http:\/\/127\.0\.0\.1:\d+\/slow timed out after 150 ms/);
  });

  it('applies the time limit to the whole answer, body included, and per call', async () => {
    const { target: t, client: c } = await setup((_q, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345'); // and never the rest
    });
    const err = await c.request(`${t.url}/stall`, { timeoutMs: 150, retryable: false }).catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(t.seen.length, 1);
  });

  it('stops at once when the caller aborts, also while waiting to retry', async () => {
    clock = new ManualClock(START, false); // sleeps wait for advance(): the client parks in its backoff
    const { target: t, client: c } = await setup(sequence({ status: 503 }, { status: 503 }));
    const controller = new AbortController();
    const pending = c.request(`${t.url}/a`, { signal: controller.signal });
    while (clock.pendingSleepers === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    assert.equal((err as Error).name, 'AbortError');
    assert.equal(t.seen.length, 1);

    const already = await c.request(`${t.url}/a`, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    assert.equal((already as Error).name, 'AbortError');
    assert.equal(t.seen.length, 1);
  });

  it('refuses an answer larger than maxResponseBytes, and does not follow redirects', async () => {
    const { target: t, client: c } = await setup((req, res) => {
      if (req.url === '/big') res.end(Buffer.alloc(5000));
      else {
        res.writeHead(302, { location: 'http://127.0.0.2:1/elsewhere' });
        res.end();
      }
    });
    const big = await c.request(`${t.url}/big`, { maxResponseBytes: 4096 }).catch((e: unknown) => e);
    assert.ok(big instanceof NetworkError);
    assert.match(big.message, /larger than 4096 bytes/);
    assert.equal(t.seen.length, 1);

    const moved = await c.request(`${t.url}/moved`).catch((e: unknown) => e);
    assert.ok(moved instanceof ServiceError);
    assert.equal(moved.status, 302);
    const accepted = await c.request(`${t.url}/moved`, { acceptStatus: (s) => s === 302 });
    assert.equal(accepted.headers.location, 'http://127.0.0.2:1/elsewhere');
  });

  it('hands back an unread body from stream(), and says clearly when a JSON body is not JSON', async () => {
    const { target: t, client: c } = await setup((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/stream' ? Buffer.alloc(300_000, 2) : '<html>oops</html>');
    });
    const res = await c.stream(`${t.url}/stream`);
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) size += chunk.length;
    assert.equal(size, 300_000);

    const html = await c.request(`${t.url}/html`);
    assert.throws(() => html.json(), (e: Error) => e instanceof ServiceError && /not JSON/.test(e.message) && !/oops/.test(e.message));
  });
});

describe('Azure Storage error bodies', () => {
  const facts = { method: 'PUT', url: 'http://127.0.0.1:1/devstoreaccount1/c/b', attempts: 1, status: 400, statusText: 'Bad Request' };

  it('reads the code and the first line of the message; the XML stays out of the message', () => {
    const body = '<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidBlockList</Code><Message>The specified block list is invalid.\nRequestId:1f\nTime:2026-12-02T07:00:00Z</Message></Error>';
    const e = new ServiceError({ ...facts, body: Buffer.from(body) });
    assert.deepEqual(e.storage, { code: 'InvalidBlockList', message: 'The specified block list is invalid.' });
    assert.equal(e.message, 'PUT http://127.0.0.1:1/devstoreaccount1/c/b failed: 400 Bad Request — InvalidBlockList: The specified block list is invalid.');
  });

  it('leaves other bodies to the excerpt, and a hostile or cut-off body to neither code nor markup', () => {
    assert.equal(storageErrorDetail('{"error":"conflict"}'), undefined);
    assert.equal(storageErrorDetail('<?xml version="1.0"?><Error><Code>Md5Mis'), undefined, 'cut off');
    assert.equal(storageErrorDetail('<Error><Code>a b<script></Code></Error>'), undefined, 'not a code');
    assert.equal(storageErrorDetail('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><Error><Code>X</Code><Message>&a;&a;</Message></Error>'), undefined, 'no DOCTYPE before the Error');
    const d = storageErrorDetail(`<Error><Code>ServerBusy</Code><Message>\u0007busy &lt;b&gt;${'y'.repeat(5000)}</Message></Error>`);
    assert.equal(d?.code, 'ServerBusy');
    assert.ok(d && d.message.length === 200 && d.message.startsWith('busy &lt;b&gt;yyy') && d.message.endsWith('…'), d?.message);
    assert.equal(storageErrorDetail('<Error><Code>ServerBusy</Code><Message>a<b>markup</b></Message></Error>')?.message, '', 'markup inside the message is not read as text');
  });
});
