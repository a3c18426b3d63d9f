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
const CHUNK = 16 * 1024;

const withQuery = (uri: string, query: string) => `${uri}${uri.includes('?') ? '&' : '?'}${query}`;

export class BlobClient implements BlobStore {
  private readonly xml = new XMLParser({ isArray: (name) => name === 'Block' });

  constructor(private readonly http: HttpClient) {}

  async putBlock(uri: string, blockId: string, data: Buffer, opts: PutBlockOptions = {}): Promise<void> {
    const md5 = createHash('md5').update(data).digest('base64');
    await this.http.request(withQuery(uri, `comp=block&blockid=${encodeURIComponent(blockId)}`), {
      method: 'PUT',
      headers: { 'x-ms-version': BLOB_API_VERSION, 'Content-MD5': md5 },
      body: () => Readable.from(chunks(data, opts)),
      contentLength: data.length,
      signal: opts.signal,
      // Put Block with the same id and content is idempotent.
      retryable: true,
    });
  }

  async getBlockList(uri: string, signal?: AbortSignal): Promise<BlockList> {
    const res = await this.http.request(withQuery(uri, 'comp=blocklist&blocklisttype=all'), {
      method: 'GET',
      headers: { 'x-ms-version': BLOB_API_VERSION },
      signal,
      acceptStatus: (s) => (s >= 200 && s < 300) || s === 404,
    });
    if (res.status === 404) return { committed: [], uncommitted: [] };
    const doc = this.xml.parse(res.text()) as {
      BlockList?: { CommittedBlocks?: { Block?: { Name: string; Size: number }[] }; UncommittedBlocks?: { Block?: { Name: string; Size: number }[] } };
    };
    const list = (blocks?: { Name: string; Size: number }[]) => (blocks ?? []).map((b) => ({ name: String(b.Name), size: Number(b.Size) }));
    return {
      committed: list(doc.BlockList?.CommittedBlocks?.Block),
      uncommitted: list(doc.BlockList?.UncommittedBlocks?.Block),
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
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    const chunk = data.subarray(offset, Math.min(offset + CHUNK, data.length));
    if (opts.beforeBytes) await opts.beforeBytes(chunk.length);
    opts.onBytes?.(chunk.length);
    yield chunk;
  }
}
