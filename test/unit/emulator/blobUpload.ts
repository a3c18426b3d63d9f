// Azure Blob REST upload as the client does it: Put Block (with Content-MD5)
// per block, then Put Block List with the encryption metadata header.
import * as crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fetch, { type Response } from 'node-fetch';
import type { EncryptionKeyResponse } from '../../../src/core/clearance/api';
import { createBlobEncryptor } from '../../../src/core/clearance/encryption';

export const BLOB_API_VERSION = '2021-12-02';

export function blockId(i: number): string {
  return Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64');
}

export async function putBlock(uri: string, i: number, data: Buffer, md5 = crypto.createHash('md5').update(data).digest('base64')): Promise<Response> {
  return fetch(`${uri}&comp=block&blockid=${encodeURIComponent(blockId(i))}`, {
    method: 'PUT',
    headers: { 'x-ms-version': BLOB_API_VERSION, 'content-length': String(data.length), 'content-md5': md5 },
    body: data,
  });
}

export async function putBlockList(uri: string, count: number, headers: Record<string, string> = {}): Promise<Response> {
  const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${Array.from({ length: count }, (_, i) => `<Latest>${blockId(i)}</Latest>`).join('')}</BlockList>`;
  return fetch(`${uri}&comp=blocklist`, {
    method: 'PUT',
    headers: { 'x-ms-version': BLOB_API_VERSION, 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(xml)), ...headers },
    body: xml,
  });
}

/** Uploads `data` in blocks and commits them; throws on any non-2xx answer. */
export async function uploadBlob(uri: string, data: Buffer, blockSize: number, headers: Record<string, string> = {}): Promise<number> {
  let count = 0;
  for (let off = 0; off < data.length; off += blockSize, count++) {
    const res = await putBlock(uri, count, data.subarray(off, off + blockSize));
    if (res.status !== 201) throw new Error(`Put Block ${count}: ${res.status} ${await res.text()}`);
  }
  const res = await putBlockList(uri, count, headers);
  if (res.status !== 201) throw new Error(`Put Block List: ${res.status} ${await res.text()}`);
  return count;
}

/** Encrypts `plain` for the account's key as the role does; answers the ciphertext and its metadata header value. */
export async function encryptForAccount(plain: Buffer, key: Pick<EncryptionKeyResponse, 'Jwk' | 'KeyId'>): Promise<{ cipher: Buffer; header: string }> {
  const enc = createBlobEncryptor({ publicKey: key.Jwk, keyId: key.KeyId });
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from([plain]),
    enc.stream,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return { cipher: Buffer.concat(chunks), header: JSON.stringify(enc.encryptionData) };
}
