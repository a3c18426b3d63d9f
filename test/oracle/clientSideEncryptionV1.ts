// An independent reader of evidence encrypted in the Azure Blob client-side encryption
// scheme, version 1.0, written from the published description alone
// (shared/design/CLEARANCE-API.md §6; the Azure Storage client libraries' v1 format):
//
//   blob     = AES-256-CBC(contentKey, IV, plain ‖ PKCS#7 padding)
//   metadata = x-ms-meta-encryptiondata: {"ContentEncryptionIV": b64(IV),
//              "EncryptionAgent": {"EncryptionAlgorithm": "AES_CBC_256", "Protocol": "1.0"},
//              "EncryptionMode": "FullBlob",
//              "WrappedContentKey": {"Algorithm": "RSA-OAEP", "EncryptedKey": b64(...), "KeyId": "..."},
//              "KeyWrappingMetadata": {...} (optional, ignored)}
//   EncryptedKey = RSAES-OAEP-ENCRYPT(publicKey, contentKey) with SHA-1 and MGF1-SHA-1,
//                  empty label (RFC 8017 §7.1; "RSA-OAEP" in JWA / Key Vault naming)
//
// It shares nothing with the engine (src/): a lint zone keeps it to Node built-ins. To
// agree with the engine by construction as little as possible, it does not use OpenSSL's
// modes or paddings: the CBC chaining, the PKCS#7 padding, the RSA arithmetic and the OAEP
// encoding are done here; only the AES block function (AES-256-ECB of one block) and
// SHA-1 come from node:crypto.
import { createCipheriv, createDecipheriv, createHash, KeyObject, type JsonWebKey } from 'node:crypto';

export const BLOCK = 16;
const KEY_BYTES = 32;
const SHA1_BYTES = 20;

/** Thrown for anything that does not follow the scheme; `field` names where. */
export class OracleError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'OracleError';
  }
}

// ---- the metadata ------------------------------------------------------------------------

export interface EncryptionMetadataV1 {
  iv: Buffer;
  encryptedKey: Buffer;
  keyId: string;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Field(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value === '' || !STRICT_BASE64.test(value)) throw new OracleError(field, 'must be standard base64');
  return Buffer.from(value, 'base64');
}

function objectField(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OracleError(field, 'must be an object');
  return value as Record<string, unknown>;
}

/** Reads the `encryptiondata` metadata value (the JSON text of the blob's metadata entry). */
export function parseEncryptionMetadata(json: string): EncryptionMetadataV1 {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new OracleError('encryptiondata', 'is not JSON');
  }
  const root = objectField(raw, 'encryptiondata');
  if (root.EncryptionMode !== 'FullBlob') throw new OracleError('EncryptionMode', 'must be "FullBlob"');
  const agent = objectField(root.EncryptionAgent, 'EncryptionAgent');
  if (agent.Protocol !== '1.0') throw new OracleError('EncryptionAgent.Protocol', 'must be "1.0"');
  if (agent.EncryptionAlgorithm !== 'AES_CBC_256') throw new OracleError('EncryptionAgent.EncryptionAlgorithm', 'must be "AES_CBC_256"');
  const iv = base64Field(root.ContentEncryptionIV, 'ContentEncryptionIV');
  if (iv.length !== BLOCK) throw new OracleError('ContentEncryptionIV', `must be ${BLOCK} bytes; found ${iv.length}`);
  const wrapped = objectField(root.WrappedContentKey, 'WrappedContentKey');
  // "RSA-OAEP" is OAEP with SHA-1; "RSA-OAEP-256" would be another scheme.
  if (wrapped.Algorithm !== 'RSA-OAEP') throw new OracleError('WrappedContentKey.Algorithm', 'must be "RSA-OAEP" (OAEP with SHA-1)');
  if (typeof wrapped.KeyId !== 'string' || wrapped.KeyId === '') throw new OracleError('WrappedContentKey.KeyId', 'must be a non-empty string');
  const encryptedKey = base64Field(wrapped.EncryptedKey, 'WrappedContentKey.EncryptedKey');
  if (root.KeyWrappingMetadata !== undefined) objectField(root.KeyWrappingMetadata, 'KeyWrappingMetadata');
  return { iv, encryptedKey, keyId: wrapped.KeyId };
}

// ---- RSA-OAEP with SHA-1 (RFC 8017 §7.1), on BigInt -------------------------------------------

interface RsaPublic {
  n: bigint;
  e: bigint;
  bytes: number;
}
interface RsaPrivate extends RsaPublic {
  d: bigint;
}

function toBigInt(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

/** I2OSP: `x` as exactly `length` big-endian bytes. */
function toBytes(x: bigint, length: number): Buffer {
  const hex = x.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new OracleError('RSA', 'integer too large');
  return Buffer.from(hex, 'hex');
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

type KeyInput = KeyObject | JsonWebKey;

function jwkOf(key: KeyInput): JsonWebKey {
  return key instanceof KeyObject ? key.export({ format: 'jwk' }) : key;
}

function b64urlInt(value: string | undefined, field: string): bigint {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value)) throw new OracleError(field, 'must be a base64url integer');
  return toBigInt(Buffer.from(value, 'base64url'));
}

function publicOf(key: KeyInput): RsaPublic {
  const jwk = jwkOf(key);
  if (jwk.kty !== 'RSA') throw new OracleError('key', 'must be an RSA key');
  const n = b64urlInt(jwk.n, 'key.n');
  return { n, e: b64urlInt(jwk.e, 'key.e'), bytes: Math.ceil(n.toString(16).length / 2) };
}

function privateOf(key: KeyInput): RsaPrivate {
  const jwk = jwkOf(key);
  return { ...publicOf(jwk), d: b64urlInt(jwk.d, 'key.d') };
}

/** MGF1 with SHA-1 (RFC 8017 appendix B.2.1). */
function mgf1Sha1(seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * SHA1_BYTES < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash('sha1').update(seed).update(c).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

const EMPTY_LABEL_HASH = createHash('sha1').update(Buffer.alloc(0)).digest();

/** RSAES-OAEP-DECRYPT with SHA-1, MGF1-SHA-1 and an empty label. */
export function rsaOaepSha1Decrypt(privateKey: KeyInput, ciphertext: Buffer): Buffer {
  const key = privateOf(privateKey);
  const k = key.bytes;
  if (k < 2 * SHA1_BYTES + 2) throw new OracleError('key', 'is too small for OAEP with SHA-1');
  // Every check ends in the same error: which one failed must not be observable (RFC 8017 §7.1.2 note).
  const fail = (): never => {
    throw new OracleError('WrappedContentKey.EncryptedKey', 'does not decrypt with RSA-OAEP (SHA-1) under this key');
  };
  if (ciphertext.length !== k) fail();
  const c = toBigInt(ciphertext);
  if (c >= key.n) fail();
  const em = toBytes(modPow(c, key.d, key.n), k);
  const maskedSeed = em.subarray(1, 1 + SHA1_BYTES);
  const maskedDb = em.subarray(1 + SHA1_BYTES);
  const seed = xor(maskedSeed, mgf1Sha1(maskedDb, SHA1_BYTES));
  const db = xor(maskedDb, mgf1Sha1(seed, k - SHA1_BYTES - 1));
  let bad = em[0] !== 0 || !db.subarray(0, SHA1_BYTES).equals(EMPTY_LABEL_HASH);
  let separator = -1;
  for (let i = SHA1_BYTES; i < db.length; i++) {
    if (separator < 0 && db[i] === 0x01) separator = i;
    else if (separator < 0 && db[i] !== 0x00) bad = true;
  }
  if (bad || separator < 0) fail();
  return Buffer.from(db.subarray(separator + 1));
}

/** RSAES-OAEP-ENCRYPT with SHA-1, MGF1-SHA-1, an empty label and the given seed (20 bytes). */
export function rsaOaepSha1Encrypt(publicKey: KeyInput, message: Buffer, seed: Buffer): Buffer {
  const key = publicOf(publicKey);
  const k = key.bytes;
  if (seed.length !== SHA1_BYTES) throw new OracleError('seed', `must be ${SHA1_BYTES} bytes`);
  if (message.length > k - 2 * SHA1_BYTES - 2) throw new OracleError('message', 'is too long for this key');
  const db = Buffer.concat([EMPTY_LABEL_HASH, Buffer.alloc(k - message.length - 2 * SHA1_BYTES - 2), Buffer.from([0x01]), message]);
  const maskedDb = xor(db, mgf1Sha1(seed, db.length));
  const maskedSeed = xor(seed, mgf1Sha1(maskedDb, SHA1_BYTES));
  const em = Buffer.concat([Buffer.from([0x00]), maskedSeed, maskedDb]);
  return toBytes(modPow(toBigInt(em), key.e, key.n), k);
}

// ---- AES-256-CBC with PKCS#7 (SP 800-38A §6.2, RFC 5652 §6.3) ------------------------------------

/**
 * The raw AES-256 block function, E or D applied to each 16-byte block on its own: ECB
 * without padding, which chains nothing (every block is independent).
 */
function aesBlocks(direction: 'encrypt' | 'decrypt', key: Buffer): (blocks: Buffer) => Buffer {
  const cipher = direction === 'encrypt' ? createCipheriv('aes-256-ecb', key, null) : createDecipheriv('aes-256-ecb', key, null);
  cipher.setAutoPadding(false);
  return (blocks) => {
    const out = cipher.update(blocks);
    if (out.length !== blocks.length) throw new OracleError('AES', 'the block function held data back');
    return out;
  };
}

function checkKeyIv(key: Buffer, iv: Buffer): void {
  if (key.length !== KEY_BYTES) throw new OracleError('content key', `must be ${KEY_BYTES} bytes; found ${key.length}`);
  if (iv.length !== BLOCK) throw new OracleError('ContentEncryptionIV', `must be ${BLOCK} bytes; found ${iv.length}`);
}

/** CBC encryption of whole blocks (no padding): C_i = E(P_i xor C_{i-1}), C_0 = IV. */
export function aes256CbcEncryptBlocks(key: Buffer, iv: Buffer, plain: Buffer): Buffer {
  checkKeyIv(key, iv);
  if (plain.length % BLOCK !== 0) throw new OracleError('plain text', `must be whole ${BLOCK}-byte blocks`);
  const encrypt = aesBlocks('encrypt', key);
  const out = Buffer.alloc(plain.length);
  let previous = iv;
  for (let at = 0; at < plain.length; at += BLOCK) {
    previous = encrypt(xor(plain.subarray(at, at + BLOCK), previous));
    previous.copy(out, at);
  }
  return out;
}

/** CBC decryption of whole blocks (no padding): P_i = D(C_i) xor C_{i-1}, C_0 = IV. */
export function aes256CbcDecryptBlocks(key: Buffer, iv: Buffer, cipher: Buffer): Buffer {
  checkKeyIv(key, iv);
  if (cipher.length % BLOCK !== 0) throw new OracleError('blob', `length ${cipher.length} is not a multiple of ${BLOCK}`);
  // D of every block at once (ECB chains nothing), then each xor the block before it (the IV for the first).
  const decrypted = aesBlocks('decrypt', key)(cipher);
  const previous = Buffer.concat([iv, cipher.subarray(0, cipher.length - BLOCK)]);
  return xor(decrypted, previous);
}

export function pkcs7Pad(data: Buffer): Buffer {
  const n = BLOCK - (data.length % BLOCK);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

export function pkcs7Unpad(data: Buffer): Buffer {
  const n = data.length === 0 ? 0 : data[data.length - 1]!;
  if (data.length === 0 || n < 1 || n > BLOCK || n > data.length) throw new OracleError('blob', 'has no valid PKCS#7 padding');
  for (let i = data.length - n; i < data.length; i++) if (data[i] !== n) throw new OracleError('blob', 'has no valid PKCS#7 padding');
  return data.subarray(0, data.length - n);
}

// ---- the whole blob ------------------------------------------------------------------------

/** The plain content of an encrypted blob: its bytes, its `encryptiondata` metadata and the private key the content key was wrapped for. */
export function decryptBlobV1(options: { ciphertext: Buffer; metadata: string; privateKey: KeyInput }): { plain: Buffer; keyId: string; contentKey: Buffer } {
  const meta = parseEncryptionMetadata(options.metadata);
  const contentKey = rsaOaepSha1Decrypt(options.privateKey, meta.encryptedKey);
  if (contentKey.length !== KEY_BYTES) throw new OracleError('WrappedContentKey.EncryptedKey', `unwraps to ${contentKey.length} bytes; an AES-256 key is ${KEY_BYTES}`);
  if (options.ciphertext.length === 0) throw new OracleError('blob', 'is empty (an encrypted blob holds at least one padding block)');
  const plain = pkcs7Unpad(aes256CbcDecryptBlocks(contentKey, meta.iv, options.ciphertext));
  return { plain, keyId: meta.keyId, contentKey };
}
