// Two small HTTP servers on loopback that stand where the blob store stands:
//  - the sink: speaks the part of Azure's Blob protocol an upload uses (Put
//    Block, Get Block List, Put Block List, Put Blob), reads every body and
//    discards it, answers as the blob store does (201, request id, version,
//    Content-MD5 of a block, ETag of a commit). What the client side alone can do.
//  - the counting relay: forwards everything to a target (the service's blob
//    gateway) and timestamps each body byte of a Put Block or Put Blob as it
//    arrives: the receiving side's count, for the bandwidth cap.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoopbackServer {
  url: string;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const isBody = (method: string | undefined, url: string | undefined) =>
  method === 'PUT' && !/[?&]comp=blocklist(&|$)/.test(url ?? '') && !/[?&]comp=(?!block(&|$))/.test(url ?? '');

export interface BlobSink extends LoopbackServer {
  /** Body bytes received (blocks and blobs). */
  readonly bytes: number;
}

export async function startBlobSink(): Promise<BlobSink> {
  let bytes = 0;
  /** Uncommitted block ids and sizes per blob path, so Get Block List answers as the store would. */
  const blocks = new Map<string, Map<string, number>>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sink');
    const comp = url.searchParams.get('comp');
    const common = {
      'x-ms-request-id': crypto.randomUUID(),
      'x-ms-version': String(req.headers['x-ms-version'] ?? '2025-01-05'),
      date: new Date().toUTCString(),
    };
    const reply = (status: number, headers: Record<string, string> = {}, body = '') => {
      res.writeHead(status, { ...common, ...headers, 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    };
    if (req.method === 'GET' && comp === 'blocklist') {
      req.resume();
      const list = [...(blocks.get(url.pathname) ?? new Map<string, number>())];
      const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList><CommittedBlocks /><UncommittedBlocks>${list
        .map(([name, size]) => `<Block><Name>${name}</Name><Size>${size}</Size></Block>`)
        .join('')}</UncommittedBlocks></BlockList>`;
      reply(200, { 'content-type': 'application/xml' }, xml);
      return;
    }
    if (req.method !== 'PUT') {
      req.resume();
      reply(404, { 'x-ms-error-code': 'BlobNotFound' });
      return;
    }
    const body = isBody(req.method, req.url);
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (body) bytes += d.length;
    });
    req.on('end', () => {
      if (comp === 'block') {
        const id = url.searchParams.get('blockid') ?? '';
        let m = blocks.get(url.pathname);
        if (!m) blocks.set(url.pathname, (m = new Map()));
        m.set(id, n);
        const md5 = req.headers['content-md5'];
        reply(201, { 'x-ms-request-server-encrypted': 'true', ...(typeof md5 === 'string' ? { 'content-md5': md5 } : {}) });
        return;
      }
      // Put Block List or Put Blob: the blob is committed.
      blocks.delete(url.pathname);
      reply(201, { etag: `"0x${crypto.randomBytes(8).toString('hex').toUpperCase()}"`, 'last-modified': new Date().toUTCString(), 'x-ms-request-server-encrypted': 'true' });
    });
  });
  const l = await listen(server);
  return {
    ...l,
    get bytes() {
      return bytes;
    },
  };
}

export interface Arrival {
  /** performance.now() of the chunk's arrival. */
  t: number;
  n: number;
}

/** One Put Block or Put Blob through the relay. */
export interface RelayedPut {
  /** The URL path (`/<account>/<container>/<blob>`). */
  blob: string;
  blockId?: string;
  /** Content-Length of the body. */
  length: number;
  /** Body bytes that arrived. */
  received: number;
  startedAt: number;
  /** When the store's answer was passed back to the client (undefined: never). */
  answeredAt?: number;
  status?: number;
}

export interface CountingRelay extends LoopbackServer {
  /** Every body chunk of a Put Block or Put Blob, as it arrived. */
  readonly arrivals: Arrival[];
  /** Every Put Block or Put Blob, in the order they started. */
  readonly puts: RelayedPut[];
}

export async function startCountingRelay(target: URL): Promise<CountingRelay> {
  const arrivals: Arrival[] = [];
  const puts: RelayedPut[] = [];
  const server = http.createServer((req, res) => {
    let put: RelayedPut | undefined;
    if (isBody(req.method, req.url)) {
      const url = new URL(req.url ?? '/', 'http://relay');
      const blockId = url.searchParams.get('blockid');
      put = { blob: url.pathname, ...(blockId !== null ? { blockId } : {}), length: Number(req.headers['content-length'] ?? 0), received: 0, startedAt: performance.now() };
      puts.push(put);
      const p = put;
      req.on('data', (d: Buffer) => {
        arrivals.push({ t: performance.now(), n: d.length });
        p.received += d.length;
      });
    }
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      if (put) {
        const p = put;
        p.status = r.statusCode;
        res.once('finish', () => (p.answeredAt = performance.now()));
      }
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('aborted', () => up.destroy());
    req.pipe(up);
  });
  const l = await listen(server);
  return { ...l, arrivals, puts };
}

/** Bytes that arrived in [from, to). */
export function bytesBetween(arrivals: readonly Arrival[], from: number, to: number): number {
  let s = 0;
  for (const a of arrivals) if (a.t >= from && a.t < to) s += a.n;
  return s;
}
