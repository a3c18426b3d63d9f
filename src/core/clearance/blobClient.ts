// The three Azure Blob REST calls a block upload needs, against the SAS URI the
// document store hands out: Put Block, Get Block List, Put Block List.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import { ServiceError } from '../net/errors';
import type { HttpClient } from '../net/httpClient';
import type { BlobStore, BlockList, PutBlockOptions } from '../uploads/ports';

/** A version Azurite 3.35 and the cloud both accept. */
export const BLOB_API_VERSION = '2025-01-05';
/** The body leaves in chunks this big (unless the caller asks otherwise), so throttling and progress stay smooth. */
export const BLOB_CHUNK_BYTES = 16 * 1024;
/** Chunks of a body that no limiter meters: few writes, progress still several times a block. */
export const BLOB_UNMETERED_CHUNK_BYTES = 512 * 1024;

const withQuery = (uri: string, query: string) => `${uri}${uri.includes('?') ? '&' : '?'}${query}`;

type XmlBlock = { Name: string | number; Size: string | number };

export class BlobClient implements BlobStore {
  private readonly xml = new XMLParser({ isArray: (name) => name === 'Block', parseTagValue: false });

  constructor(private readonly http: HttpClient) {}

  async putBlock(uri: string, blockId: string, data: Buffer, opts: PutBlockOptions = {}): Promise<void> {
    const md5 = opts.contentMd5 ?? createHash('md5').update(data).digest('base64');
    await refusal('a block', this.http.request(withQuery(uri, `comp=block&blockid=${encodeURIComponent(blockId)}`), {
      method: 'PUT',
      headers: { 'x-ms-version': BLOB_API_VERSION, 'Content-MD5': md5 },
      // A factory: a retry sends the block again from its first byte.
      body: () => new BlockBody(data, opts),
      contentLength: data.length,
      signal: opts.signal,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      // Put Block with the same id and content is idempotent.
      retryable: true,
    }));
  }

  async getBlockList(uri: string, signal?: AbortSignal): Promise<BlockList | undefined> {
    const res = await refusal('the block list read', this.http.request(withQuery(uri, 'comp=blocklist&blocklisttype=all'), {
      method: 'GET',
      headers: { 'x-ms-version': BLOB_API_VERSION },
      signal,
      acceptStatus: (s) => (s >= 200 && s < 300) || s === 404 || s === 403,
    }));
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
    await refusal('the block list', this.http.request(withQuery(uri, 'comp=blocklist'), {
      method: 'PUT',
      headers: { 'x-ms-version': BLOB_API_VERSION, 'Content-Type': 'application/xml', ...headers },
      body,
      signal,
      retryable: true,
    }));
  }
}

/**
 * A refusal by the blob store, reworded for an operator: what was refused and the
 * store's own code and message (`the blob store refused a block (400 Md5Mismatch: …)`)
 * instead of a SAS URL's path and an XML body. Status, URL and code stay on the error.
 */
async function refusal<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (!(err instanceof ServiceError) || err.constructor !== ServiceError) throw err; // a proxy's 407 keeps its own words
    const said = err.storage ? `${err.storage.code}: ${err.storage.message}` : err.bodyExcerpt || err.statusText;
    throw new ServiceError(
      {
        method: err.method,
        url: err.url,
        attempts: err.attempts,
        status: err.status,
        statusText: err.statusText,
        ...(err.storage ? { storage: err.storage } : { body: err.bodyExcerpt }),
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
      },
      `the blob store refused ${what} (${err.status}${said ? ` ${said}` : ''})`,
    );
  }
}

/**
 * The body of one Put Block: views of `data` (no copy), chunk by chunk. Before
 * each chunk `beforeBytes` may hold it back (the limiter); a chunk that nothing
 * holds back leaves in the same turn, so an unthrottled block costs no promise per chunk.
 */
class BlockBody extends Readable {
  private offset = 0;
  private waiting = false;

  constructor(
    private readonly data: Buffer,
    private readonly opts: PutBlockOptions,
  ) {
    super({ highWaterMark: BLOB_CHUNK_BYTES });
  }

  override _read(): void {
    if (this.waiting) return;
    while (this.offset < this.data.length) {
      const size = Math.max(1, Math.min(this.opts.chunkBytes?.() ?? BLOB_CHUNK_BYTES, this.data.length - this.offset));
      let gate: Promise<void> | undefined;
      try {
        gate = this.opts.beforeBytes?.(size);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (gate) {
        this.waiting = true;
        gate.then(
          () => {
            this.waiting = false;
            if (this.destroyed) return;
            if (this.pushChunk(size)) this._read();
          },
          (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
        );
        return;
      }
      if (!this.pushChunk(size)) return;
    }
    this.push(null);
  }

  /** Pushes the next `size` bytes; false when the reader wants no more for now. */
  private pushChunk(size: number): boolean {
    const chunk = this.data.subarray(this.offset, this.offset + size);
    this.offset += size;
    this.opts.onBytes?.(size);
    const more = this.push(chunk);
    if (this.offset >= this.data.length) {
      this.push(null);
      return false;
    }
    return more;
  }
}
