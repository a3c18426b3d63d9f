// The three Azure Blob REST calls a block upload needs, against the SAS URI the
// document store hands out: Put Block, Get Block List, Put Block List.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import type { HttpClient } from '../net/httpClient';
import type { BlobStore, BlockList, PutBlockOptions } from '../uploads/ports';

/** A version Azurite 3.35 and the cloud both accept. */
export const BLOB_API_VERSION = '2025-01-05';
/** The body leaves in chunks this big, so throttling and progress stay smooth. */
export const BLOB_CHUNK_BYTES = 16 * 1024;

const withQuery = (uri: string, query: string) => `${uri}${uri.includes('?') ? '&' : '?'}${query}`;

type XmlBlock = { Name: string | number; Size: string | number };

export class BlobClient implements BlobStore {
  private readonly xml = new XMLParser({ isArray: (name) => name === 'Block', parseTagValue: false });

  constructor(private readonly http: HttpClient) {}

  async putBlock(uri: string, blockId: string, data: Buffer, opts: PutBlockOptions = {}): Promise<void> {
    const md5 = createHash('md5').update(data).digest('base64');
    await this.http.request(withQuery(uri, `comp=block&blockid=${encodeURIComponent(blockId)}`), {
      method: 'PUT',
      headers: { 'x-ms-version': BLOB_API_VERSION, 'Content-MD5': md5 },
      // A factory: a retry sends the block again from its first byte.
      body: () => Readable.from(chunks(data, opts), { objectMode: false, highWaterMark: BLOB_CHUNK_BYTES }),
      contentLength: data.length,
      signal: opts.signal,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      // Put Block with the same id and content is idempotent.
      retryable: true,
    });
  }

  async getBlockList(uri: string, signal?: AbortSignal): Promise<BlockList | undefined> {
    const res = await this.http.request(withQuery(uri, 'comp=blocklist&blocklisttype=all'), {
      method: 'GET',
      headers: { 'x-ms-version': BLOB_API_VERSION },
      signal,
      acceptStatus: (s) => (s >= 200 && s < 300) || s === 404 || s === 403,
    });
    if (res.status === 404) return { committed: [], uncommitted: [] };
    // A write-only SAS (no "r") may not read the list: the caller then trusts its own record.
    if (res.status === 403) return undefined;
    const doc = this.xml.parse(res.text()) as {
      BlockList?: { CommittedBlocks?: { Block?: XmlBlock[] } | ''; UncommittedBlocks?: { Block?: XmlBlock[] } | '' };
    };
    const list = (group: { Block?: XmlBlock[] } | '' | undefined) =>
      (typeof group === 'object' ? (group.Block ?? []) : []).map((b) => ({ name: String(b.Name), size: Number(b.Size) }));
    return {
      committed: list(doc.BlockList?.CommittedBlocks),
      uncommitted: list(doc.BlockList?.UncommittedBlocks),
    };
  }

  async putBlockList(uri: string, blockIds: string[], headers: Record<string, string>, signal?: AbortSignal): Promise<void> {
    const body = `<?xml version="1.0" encoding="utf-8"?><BlockList>${blockIds.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
    await this.http.request(withQuery(uri, 'comp=blocklist'), {
      method: 'PUT',
      headers: { 'x-ms-version': BLOB_API_VERSION, 'Content-Type': 'application/xml', ...headers },
      body,
      signal,
      retryable: true,
    });
  }
}

async function* chunks(data: Buffer, opts: PutBlockOptions): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += BLOB_CHUNK_BYTES) {
    const chunk = data.subarray(offset, Math.min(offset + BLOB_CHUNK_BYTES, data.length));
    if (opts.beforeBytes) await opts.beforeBytes(chunk.length);
    opts.onBytes?.(chunk.length);
    yield chunk;
  }
}
