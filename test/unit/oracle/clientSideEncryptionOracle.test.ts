// The independent encryption oracle (test/oracle): first proved on known answers (NIST
// SP 800-38A for AES-256-CBC, Node's OpenSSL for RSA-OAEP with SHA-1, both ways), then used
// to read what the engine encrypts: in memory (fresh and resumed streams) and as evidence
// the upload queue actually put into the local service's blob store (Azurite), read back
// with @azure/storage-blob as a third party would, without the engine's decryptor.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  createBlobDecryptor,
  createBlobEncryptor,
  parseEncryptionData,
  resumeBlobEncryptor,
  unwrapContentKey,
  wrapContentKey,
} from '../../../src/core/clearance/encryption';
import {
  aes256CbcDecryptBlocks,
  aes256CbcEncryptBlocks,
  decryptBlobV1,
  OracleError,
  parseEncryptionMetadata,
  pkcs7Pad,
  pkcs7Unpad,
  rsaOaepSha1Decrypt,
  rsaOaepSha1Encrypt,
} from '../../oracle/clientSideEncryptionV1';
import { blobOf, openQueue, stageRandomFile, startService, waitForState, type ServiceFixture } from '../uploads/serviceFixture';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

// NIST SP 800-38A, Appendix F.2.5 (CBC-AES256.Encrypt) and F.2.6 (CBC-AES256.Decrypt).
const SP800_38A_CBC_AES256 = {
  key: hex('603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4'),
  iv: hex('000102030405060708090a0b0c0d0e0f'),
  plain: [
    '6bc1bee22e409f96e93d7e117393172a',
    'ae2d8a571e03ac9c9eb76fac45af8e51',
    '30c81c46a35ce411e5fbc1191a0a52ef',
    'f69f2445df4f9b17ad2b417be66c3710',
  ],
  cipher: [
    'f58c4c04d6e5f1ba779eabfb5f7bfbd6',
    '9cfc4e967edb808d679f777bc6702c7d',
    '39f23369a9d9bacfa530e26304231461',
    'b2eb05e2c39be9fcda6c19078c6a9d1b',
  ],
};

const rsa2048 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa3072 = crypto.generateKeyPairSync('rsa', { modulusLength: 3072 });

async function engineEncrypt(plain: Buffer, publicKey: crypto.KeyObject, keyId: string): Promise<{ ciphertext: Buffer; metadata: string; contentKey: Buffer; iv: Buffer }> {
  const enc = createBlobEncryptor({ publicKey, keyId });
  const ciphertext = await buffer(Readable.from([plain]).pipe(enc.stream));
  return { ciphertext, metadata: JSON.stringify(enc.encryptionData), contentKey: enc.contentKey, iv: enc.iv };
}

describe('client-side encryption oracle (independent of src/)', () => {
  describe('AES-256-CBC and PKCS#7', () => {
    const v = SP800_38A_CBC_AES256;

    it('gives the NIST SP 800-38A F.2.5 ciphertext (CBC-AES256.Encrypt), block by block', () => {
      const out = aes256CbcEncryptBlocks(v.key, v.iv, hex(v.plain.join('')));
      assert.deepEqual(out.toString('hex').match(/.{32}/g), v.cipher);
      // Each block's IV is the block before it (the chaining a resumed upload relies on).
      for (let i = 1; i < 4; i++) {
        assert.equal(aes256CbcEncryptBlocks(v.key, hex(v.cipher[i - 1]!), hex(v.plain[i]!)).toString('hex'), v.cipher[i]);
      }
    });

    it('gives the NIST SP 800-38A F.2.6 plaintext (CBC-AES256.Decrypt), also from any block on', () => {
      assert.deepEqual(aes256CbcDecryptBlocks(v.key, v.iv, hex(v.cipher.join(''))).toString('hex').match(/.{32}/g), v.plain);
      assert.equal(aes256CbcDecryptBlocks(v.key, hex(v.cipher[1]!), hex(v.cipher.slice(2).join(''))).toString('hex'), v.plain.slice(2).join(''));
      // The same vectors through OpenSSL's own CBC: the vectors above are the published ones.
      const openssl = crypto.createCipheriv('aes-256-cbc', v.key, v.iv).setAutoPadding(false);
      assert.equal(Buffer.concat([openssl.update(hex(v.plain.join(''))), openssl.final()]).toString('hex'), v.cipher.join(''));
    });

    it('pads with PKCS#7 (1 to 16 bytes, always) and refuses broken padding', () => {
      for (const n of [0, 1, 15, 16, 17, 31, 32]) {
        const data = crypto.randomBytes(n);
        const padded = pkcs7Pad(data);
        assert.equal(padded.length, (Math.floor(n / 16) + 1) * 16);
        assert.equal(padded.at(-1), padded.length - n);
        assert.deepEqual(pkcs7Unpad(padded), data);
      }
      for (const bad of [Buffer.alloc(0), Buffer.alloc(16, 0), Buffer.alloc(16, 17), Buffer.concat([Buffer.alloc(14, 1), Buffer.from([3, 2])])]) {
        assert.throws(() => pkcs7Unpad(bad), (e: unknown) => e instanceof OracleError && e.field === 'blob');
      }
      assert.throws(() => aes256CbcDecryptBlocks(v.key, v.iv, Buffer.alloc(17)), /not a multiple of 16/);
      assert.throws(() => aes256CbcDecryptBlocks(v.key.subarray(0, 16), v.iv, Buffer.alloc(16)), /content key: must be 32 bytes/);
    });
  });

  describe('RSA-OAEP with SHA-1 (the content key wrap)', () => {
    it('unwraps what OpenSSL wraps with OAEP SHA-1, for several keys and lengths', () => {
      for (const { privateKey, publicKey } of [rsa2048, rsa3072]) {
        for (const n of [0, 1, 32, (publicKey.asymmetricKeyDetails!.modulusLength! / 8) - 42]) {
          const message = crypto.randomBytes(n);
          const wrapped = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, message);
          assert.deepEqual(rsaOaepSha1Decrypt(privateKey, wrapped), message);
        }
      }
    });

    it('wraps so that OpenSSL (OAEP SHA-1) and the engine unwrap it; OAEP SHA-256 does not', () => {
      const contentKey = crypto.randomBytes(32);
      const wrapped = rsaOaepSha1Encrypt(rsa2048.publicKey, contentKey, crypto.randomBytes(20));
      assert.deepEqual(crypto.privateDecrypt({ key: rsa2048.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, wrapped), contentKey);
      assert.deepEqual(unwrapContentKey({ Algorithm: 'RSA-OAEP', EncryptedKey: wrapped.toString('base64'), KeyId: 'k' }, rsa2048.privateKey), contentKey);
      assert.throws(() => crypto.privateDecrypt({ key: rsa2048.privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped));
      // A fixed seed gives a fixed wrap (the encoding is deterministic given the seed).
      const seed = Buffer.alloc(20, 7);
      assert.deepEqual(rsaOaepSha1Encrypt(rsa2048.publicKey, contentKey, seed), rsaOaepSha1Encrypt(rsa2048.publicKey, contentKey, seed));
    });

    it("unwraps the engine's wrapped content key (wrapContentKey), public key given as KeyObject, PEM or JWK", () => {
      const contentKey = crypto.randomBytes(32);
      const forms = [rsa2048.publicKey, rsa2048.publicKey.export({ type: 'spki', format: 'pem' }) as string, rsa2048.publicKey.export({ format: 'jwk' })];
      for (const publicKey of forms) {
        const wrapped = wrapContentKey(contentKey, publicKey, 'key-1');
        assert.equal(wrapped.Algorithm, 'RSA-OAEP');
        assert.deepEqual(rsaOaepSha1Decrypt(rsa2048.privateKey.export({ format: 'jwk' }), Buffer.from(wrapped.EncryptedKey, 'base64')), contentKey);
      }
    });

    it('refuses OAEP with SHA-256, PKCS#1 v1.5, another key and a tampered wrap, with one message', () => {
      const contentKey = crypto.randomBytes(32);
      const wraps = [
        crypto.publicEncrypt({ key: rsa2048.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, contentKey),
        crypto.publicEncrypt({ key: rsa2048.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, contentKey),
        crypto.publicEncrypt({ key: rsa3072.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, contentKey),
      ];
      const good = crypto.publicEncrypt({ key: rsa2048.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, contentKey);
      const tampered = Buffer.from(good);
      tampered[100]! ^= 1;
      for (const wrapped of [...wraps, tampered, good.subarray(1), Buffer.alloc(256, 0xff)]) {
        assert.throws(() => rsaOaepSha1Decrypt(rsa2048.privateKey, wrapped), { name: 'OracleError', message: 'WrappedContentKey.EncryptedKey: does not decrypt with RSA-OAEP (SHA-1) under this key' });
      }
    });
  });

  describe('the engine’s encryption, read by the oracle', () => {
    it('decrypts what createBlobEncryptor writes, every size around the block boundary', async () => {
      for (const n of [0, 1, 15, 16, 17, 4095, 4096, 65_537, 1_000_003]) {
        const plain = crypto.randomBytes(n);
        const { ciphertext, metadata, contentKey } = await engineEncrypt(plain, rsa2048.publicKey, 'urn:key:1');
        assert.equal(ciphertext.length, (Math.floor(n / 16) + 1) * 16, `${n} bytes`);
        const read = decryptBlobV1({ ciphertext, metadata, privateKey: rsa2048.privateKey });
        assert.equal(sha256(read.plain), sha256(plain), `${n} bytes`);
        assert.equal(read.keyId, 'urn:key:1');
        assert.deepEqual(read.contentKey, contentKey);
      }
    });

    it('decrypts a file whose encryption was resumed mid-file from the chaining value', async () => {
      const plain = crypto.randomBytes(300_001);
      const enc = createBlobEncryptor({ publicKey: rsa2048.publicKey, keyId: 'k' });
      const cut = 128 * 1024;
      const first: Buffer[] = [];
      enc.stream.on('data', (c: Buffer) => first.push(c));
      enc.stream.write(plain.subarray(0, cut));
      await new Promise((resolve) => setImmediate(resolve));
      const committed = Buffer.concat(first);
      assert.equal(committed.length, cut);
      assert.deepEqual(enc.stream.chainingValue, committed.subarray(-16));
      enc.stream.destroy(); // the interruption
      const resumed = resumeBlobEncryptor({ contentKey: enc.contentKey, chainingValue: enc.stream.chainingValue, plainOffset: cut });
      const rest = await buffer(Readable.from([plain.subarray(cut)]).pipe(resumed));
      const read = decryptBlobV1({ ciphertext: Buffer.concat([committed, rest]), metadata: JSON.stringify(enc.encryptionData), privateKey: rsa2048.privateKey });
      assert.equal(sha256(read.plain), sha256(plain));
    });

    it('agrees with the engine on the metadata, and refuses the metadata variants the scheme does not allow', async () => {
      const { metadata, iv, ciphertext } = await engineEncrypt(Buffer.from('evidence'), rsa2048.publicKey, 'kid-7');
      const meta = parseEncryptionMetadata(metadata);
      assert.deepEqual(meta.iv, iv);
      assert.equal(meta.keyId, 'kid-7');
      assert.deepEqual(Object.keys(JSON.parse(metadata) as object), ['ContentEncryptionIV', 'EncryptionAgent', 'EncryptionMode', 'WrappedContentKey']);
      const base = JSON.parse(metadata) as Record<string, Record<string, unknown>>;
      const variants: [string, (m: Record<string, Record<string, unknown>>) => void][] = [
        ['WrappedContentKey.Algorithm', (m) => (m.WrappedContentKey!.Algorithm = 'RSA-OAEP-256')],
        ['EncryptionAgent.Protocol', (m) => (m.EncryptionAgent!.Protocol = '2.0')],
        ['EncryptionAgent.EncryptionAlgorithm', (m) => (m.EncryptionAgent!.EncryptionAlgorithm = 'AES_GCM_256')],
        ['EncryptionMode', (m) => ((m as Record<string, unknown>).EncryptionMode = 'PartialBlob')],
        ['ContentEncryptionIV', (m) => ((m as Record<string, unknown>).ContentEncryptionIV = Buffer.alloc(15).toString('base64'))],
        ['ContentEncryptionIV', (m) => ((m as Record<string, unknown>).ContentEncryptionIV = 'not base64!')],
        ['WrappedContentKey.KeyId', (m) => delete m.WrappedContentKey!.KeyId],
      ];
      for (const [field, change] of variants) {
        const m = structuredClone(base);
        change(m);
        assert.throws(() => decryptBlobV1({ ciphertext, metadata: JSON.stringify(m), privateKey: rsa2048.privateKey }), (e: unknown) => e instanceof OracleError && e.field === field, field);
      }
      // The optional KeyWrappingMetadata of the Azure libraries is read past.
      const withLibrary = { ...base, KeyWrappingMetadata: { EncryptionLibrary: 'Java 5.3.0' } };
      assert.equal(decryptBlobV1({ ciphertext, metadata: JSON.stringify(withLibrary), privateKey: rsa2048.privateKey }).plain.toString(), 'evidence');
    });

    it("agrees with the engine's own decryptor on random files (differential)", async () => {
      for (let i = 0; i < 20; i++) {
        const plain = crypto.randomBytes(crypto.randomInt(0, 20_000));
        const { ciphertext, metadata } = await engineEncrypt(plain, rsa2048.publicKey, 'k');
        const engine = await buffer(Readable.from([ciphertext]).pipe(createBlobDecryptor({ encryptionData: parseEncryptionData(metadata), privateKey: rsa2048.privateKey })));
        assert.deepEqual(decryptBlobV1({ ciphertext, metadata, privateKey: rsa2048.privateKey }).plain, engine);
      }
    });
  });

  describe('evidence the upload queue put into the local service, read from Azurite', function () {
    this.timeout(120_000);
    let fx: ServiceFixture;
    before(async () => {
      fx = await startService();
    });
    after(async () => fx?.stop());

    it('decrypts every uploaded part with the tenant key to the SHA-256 of its source file', async () => {
      const dir = path.join(fx.dir, 'oracle-queue');
      fs.mkdirSync(dir, { recursive: true });
      const h = await openQueue(fx, dir, { blockSize: 256 * 1024 });
      try {
        const id = h.queue.newJobId();
        const parts = [
          stageRandomFile(h.queue, id, 'a.mp4', 1_000_003),
          stageRandomFile(h.queue, id, 'b.mp4', 256 * 1024),
          stageRandomFile(h.queue, id, 'c.mp4', 5),
          stageRandomFile(h.queue, id, 'd.mp4', 0),
        ];
        await h.queue.enqueue({ id, title: 'Oracle', evidence: { name: 'Oracle', description: 'read back by the oracle' }, caseTarget: { kind: 'none' }, parts });
        h.queue.start();
        const done = await waitForState(h.queue, id, ['completed', 'failed']);
        assert.equal(done.state, 'completed', done.error);
        const key = await fx.documents.encryptionKey();
        assert.ok(key, 'the service publishes an encryption key');
        const privateKey = fx.emulator.tenantPrivateKey();
        assert.equal(done.parts.length, parts.length);
        for (const p of done.parts) {
          const blob = blobOf(fx, done.evidenceId!, p.resourceId!);
          const props = await blob.getProperties();
          const metadata = props.metadata?.encryptiondata;
          assert.ok(metadata, `${p.name}: the blob carries encryptiondata metadata`);
          const ciphertext = await blob.downloadToBuffer();
          assert.equal(ciphertext.length, (Math.floor(parts[p.index]!.bytes / 16) + 1) * 16, p.name);
          const read = decryptBlobV1({ ciphertext, metadata, privateKey });
          assert.equal(sha256(read.plain), parts[p.index]!.sha256, `${p.name}: the oracle reads the source file back`);
          assert.equal(read.keyId, key.keyId, `${p.name}: wrapped for the key store's key`);
          // The ciphertext is no copy of the plain file.
          assert.notEqual(sha256(ciphertext), parts[p.index]!.sha256);
        }
      } finally {
        await h.close();
      }
    });
  });
});
