// Client-side encryption, Azure Blob scheme v1.0 (docs/clearance-api.md §6): real
// crypto, no service needed.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BlobEncryptStream,
  CIPHER_BLOCK_SIZE,
  buildEncryptionData,
  createBlobDecryptor,
  createBlobEncryptor,
  encryptedLength,
  parseEncryptionData,
  resumeBlobEncryptor,
  unwrapContentKey,
  wrapContentKey,
} from '../../../src/core/clearance/encryption';

async function through(input: Buffer, transform: NodeJS.ReadWriteStream, pieces = 7): Promise<Buffer> {
  const out: Buffer[] = [];
  const chunks: Buffer[] = [];
  const step = Math.max(1, Math.ceil(input.length / pieces));
  for (let i = 0; i < input.length; i += step) chunks.push(input.subarray(i, i + step));
  await pipeline(
    Readable.from(chunks),
    transform,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('client-side encryption (AES-CBC-256, RSA-OAEP)', () => {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('encrypts with PKCS7 padding into the documented metadata, and decrypts back', async () => {
    for (const size of [0, 1, 15, 16, 17, 100_000]) {
      const plain = crypto.randomBytes(size);
      const enc = createBlobEncryptor({ publicKey, keyId: 'urn:key:1' });
      const cipher = await through(plain, enc.stream);
      assert.equal(cipher.length, encryptedLength(size), `size ${size}`);
      assert.equal(enc.stream.bytesOut, cipher.length);
      assert.deepEqual(enc.stream.chainingValue, cipher.subarray(-16));
      assert.deepEqual(Object.keys(enc.encryptionData), ['ContentEncryptionIV', 'EncryptionAgent', 'EncryptionMode', 'WrappedContentKey']);
      assert.deepEqual(enc.encryptionData.EncryptionAgent, { EncryptionAlgorithm: 'AES_CBC_256', Protocol: '1.0' });
      assert.equal(enc.encryptionData.EncryptionMode, 'FullBlob');
      assert.equal(enc.encryptionData.WrappedContentKey.Algorithm, 'RSA-OAEP');
      assert.equal(enc.encryptionData.WrappedContentKey.KeyId, 'urn:key:1');
      const back = await through(cipher, createBlobDecryptor({ encryptionData: parseEncryptionData(JSON.stringify(enc.encryptionData)), privateKey }));
      assert.deepEqual(back, plain);
    }
  });

  it('resumes mid-file from the chaining value: the cipher equals one uninterrupted pass', async () => {
    const plain = crypto.randomBytes(10 * 4096 + 5);
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(16);
    const whole = await through(plain, new BlobEncryptStream(key, iv));
    const cut = 6 * 4096; // a block boundary (multiple of 16)
    const head = await through(plain.subarray(0, cut), new BlobEncryptStream(key, iv));
    // The head alone ends with a padding block; the part already sent is its first `cut` bytes.
    const sent = head.subarray(0, cut);
    const rest = await through(plain.subarray(cut), resumeBlobEncryptor({ contentKey: key, chainingValue: sent.subarray(-CIPHER_BLOCK_SIZE), plainOffset: cut }));
    assert.deepEqual(Buffer.concat([sent, rest]), whole);
    assert.throws(() => resumeBlobEncryptor({ contentKey: key, chainingValue: iv, plainOffset: 17 }), /plainOffset/);
    assert.throws(() => new BlobEncryptStream(key.subarray(1), iv), /contentKey/);
    assert.throws(() => new BlobEncryptStream(key, iv.subarray(1)), /chainingValue/);
  });

  it('wraps the content key with RSA-OAEP over SHA-1, as the v1.0 reader expects (not SHA-256)', () => {
    const contentKey = crypto.randomBytes(32);
    const wrapped = wrapContentKey(contentKey, publicKey.export({ format: 'jwk' }), 'k1');
    const encrypted = Buffer.from(wrapped.EncryptedKey, 'base64');
    assert.deepEqual(crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, encrypted), contentKey);
    assert.throws(() => crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encrypted));
    assert.deepEqual(unwrapContentKey(wrapped, privateKey.export({ format: 'jwk' })), contentKey);
  });

  it('rejects malformed metadata naming the field', () => {
    const good = buildEncryptionData(crypto.randomBytes(16), { Algorithm: 'RSA-OAEP', EncryptedKey: 'QUJD', KeyId: 'k' });
    const bad = (mutate: (o: Record<string, unknown>) => void, field: RegExp) => {
      const o = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      mutate(o);
      assert.throws(() => parseEncryptionData(JSON.stringify(o)), field);
    };
    assert.throws(() => parseEncryptionData('{'), /not valid JSON/);
    bad((o) => (o.EncryptionMode = 'PerBlock'), /^Error: EncryptionMode/);
    bad((o) => (o.ContentEncryptionIV = 'QUJD'), /ContentEncryptionIV: must be 16 bytes/);
    bad((o) => ((o.EncryptionAgent as Record<string, unknown>).Protocol = '2.0'), /EncryptionAgent.Protocol/);
    bad((o) => ((o.WrappedContentKey as Record<string, unknown>).Algorithm = 'RSA-OAEP-256'), /WrappedContentKey.Algorithm/);
    bad((o) => ((o.WrappedContentKey as Record<string, unknown>).KeyId = ''), /WrappedContentKey.KeyId/);
    assert.deepEqual(parseEncryptionData(JSON.stringify(good)), good);
  });
});
