// Client-side encryption of evidence, Azure Blob scheme version 1.0 (docs/clearance-api.md §6):
// AES-256-CBC with PKCS7 padding under a one-time content key, the key wrapped
// with RSA-OAEP (SHA-1), the metadata sent as the blob header x-ms-meta-encryptiondata.
//
// CBC makes every ciphertext block depend on the one before it, so a resumed
// upload needs the content key and the last 16 ciphertext bytes already
// committed (the chaining value). The encrypt stream exposes both.
import * as crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { EncryptionData, WrappedContentKey } from './api';

export const CIPHER_BLOCK_SIZE = 16;
export const CONTENT_KEY_SIZE = 32;
/** Blob metadata name (the header is `x-ms-meta-` + this). */
export const ENCRYPTION_METADATA_NAME = 'encryptiondata';
export const ENCRYPTION_METADATA_HEADER = `x-ms-meta-${ENCRYPTION_METADATA_NAME}`;

/** A public key as a KeyObject, a PEM string, or a JWK. */
export type PublicKeyInput = crypto.KeyObject | string | crypto.JsonWebKey;
export type PrivateKeyInput = crypto.KeyObject | string | crypto.JsonWebKey;

function toPublicKey(key: PublicKeyInput): crypto.KeyObject {
  if (key instanceof crypto.KeyObject) return key.type === 'private' ? crypto.createPublicKey(key) : key;
  if (typeof key === 'string') return crypto.createPublicKey(key);
  const { kty, n, e } = key;
  return crypto.createPublicKey({ key: { kty, n, e } as crypto.JsonWebKey, format: 'jwk' });
}

function toPrivateKey(key: PrivateKeyInput): crypto.KeyObject {
  if (key instanceof crypto.KeyObject) return key;
  if (typeof key === 'string') return crypto.createPrivateKey(key);
  const { kty, n, e, d, p, q, dp, dq, qi } = key;
  return crypto.createPrivateKey({ key: { kty, n, e, d, p, q, dp, dq, qi } as crypto.JsonWebKey, format: 'jwk' });
}

/** Size of the ciphertext of `plainLength` bytes (PKCS7 always adds 1..16 bytes). */
export function encryptedLength(plainLength: number): number {
  return (Math.floor(plainLength / CIPHER_BLOCK_SIZE) + 1) * CIPHER_BLOCK_SIZE;
}

/** Wraps a content key with RSA-OAEP (SHA-1, MGF1 SHA-1), as the v1.0 reader expects. */
export function wrapContentKey(contentKey: Buffer, publicKey: PublicKeyInput, keyId: string): WrappedContentKey {
  const encrypted = crypto.publicEncrypt(
    { key: toPublicKey(publicKey), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
    contentKey,
  );
  return { Algorithm: 'RSA-OAEP', EncryptedKey: encrypted.toString('base64'), KeyId: keyId };
}

export function unwrapContentKey(wrapped: WrappedContentKey, privateKey: PrivateKeyInput): Buffer {
  const key = crypto.privateDecrypt(
    { key: toPrivateKey(privateKey), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
    Buffer.from(wrapped.EncryptedKey, 'base64'),
  );
  if (key.length !== CONTENT_KEY_SIZE) throw new Error(`WrappedContentKey.EncryptedKey: unwraps to ${key.length} bytes, expected ${CONTENT_KEY_SIZE}`);
  return key;
}

/** The metadata object, in exactly the documented shape and key order. */
export function buildEncryptionData(iv: Buffer, wrapped: WrappedContentKey): EncryptionData {
  return {
    ContentEncryptionIV: iv.toString('base64'),
    EncryptionAgent: { EncryptionAlgorithm: 'AES_CBC_256', Protocol: '1.0' },
    EncryptionMode: 'FullBlob',
    WrappedContentKey: { Algorithm: wrapped.Algorithm, EncryptedKey: wrapped.EncryptedKey, KeyId: wrapped.KeyId },
  };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses and checks the x-ms-meta-encryptiondata value; the error names the
 * offending field.
 */
export function parseEncryptionData(json: string): EncryptionData {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('encryptiondata: not valid JSON');
  }
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${field}: must be an object`);
    return v as Record<string, unknown>;
  };
  const eq = (v: unknown, expected: string, field: string): void => {
    if (v !== expected) throw new Error(`${field}: must be "${expected}"`);
  };
  const b64 = (v: unknown, field: string, bytes?: number): string => {
    if (typeof v !== 'string' || !BASE64.test(v)) throw new Error(`${field}: must be base64`);
    if (bytes !== undefined && Buffer.from(v, 'base64').length !== bytes) throw new Error(`${field}: must be ${bytes} bytes`);
    return v;
  };
  const root = obj(raw, 'encryptiondata');
  const agent = obj(root.EncryptionAgent, 'EncryptionAgent');
  eq(agent.EncryptionAlgorithm, 'AES_CBC_256', 'EncryptionAgent.EncryptionAlgorithm');
  eq(agent.Protocol, '1.0', 'EncryptionAgent.Protocol');
  eq(root.EncryptionMode, 'FullBlob', 'EncryptionMode');
  const iv = b64(root.ContentEncryptionIV, 'ContentEncryptionIV', CIPHER_BLOCK_SIZE);
  const wrapped = obj(root.WrappedContentKey, 'WrappedContentKey');
  eq(wrapped.Algorithm, 'RSA-OAEP', 'WrappedContentKey.Algorithm');
  const encryptedKey = b64(wrapped.EncryptedKey, 'WrappedContentKey.EncryptedKey');
  if (typeof wrapped.KeyId !== 'string' || wrapped.KeyId === '') throw new Error('WrappedContentKey.KeyId: must be a non-empty string');
  return buildEncryptionData(Buffer.from(iv, 'base64'), { Algorithm: 'RSA-OAEP', EncryptedKey: encryptedKey, KeyId: wrapped.KeyId });
}

/**
 * AES-256-CBC encrypting Transform that remembers the last ciphertext block it
 * emitted (the chaining value a resumed upload starts from).
 */
export class BlobEncryptStream extends Transform {
  private readonly cipher: crypto.Cipher;
  private lastBlock: Buffer;
  private out = 0;

  /** `chainingValue` is the IV for a fresh file, or the last committed ciphertext block when resuming. */
  constructor(contentKey: Buffer, chainingValue: Buffer) {
    super();
    if (contentKey.length !== CONTENT_KEY_SIZE) throw new Error(`contentKey: must be ${CONTENT_KEY_SIZE} bytes`);
    if (chainingValue.length !== CIPHER_BLOCK_SIZE) throw new Error(`chainingValue: must be ${CIPHER_BLOCK_SIZE} bytes`);
    this.cipher = crypto.createCipheriv('aes-256-cbc', contentKey, chainingValue);
    this.lastBlock = Buffer.from(chainingValue);
  }

  /** Last 16 ciphertext bytes emitted so far (the IV before any output). */
  get chainingValue(): Buffer {
    return Buffer.from(this.lastBlock);
  }

  /** Ciphertext bytes emitted by this stream. */
  get bytesOut(): number {
    return this.out;
  }

  private emitCipher(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.out += chunk.length;
    this.lastBlock =
      chunk.length >= CIPHER_BLOCK_SIZE
        ? Buffer.from(chunk.subarray(chunk.length - CIPHER_BLOCK_SIZE))
        : Buffer.concat([this.lastBlock, chunk]).subarray(-CIPHER_BLOCK_SIZE);
    this.push(chunk);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.emitCipher(this.cipher.update(chunk));
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.emitCipher(this.cipher.final());
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/**
 * Encrypts one block of the blob on its own: AES-256-CBC from `chainingValue`
 * (the IV for the first block, else the last 16 ciphertext bytes of the block
 * before it), with PKCS7 padding only on the `final` block. Blocks encrypted one
 * after the other this way are, end to end, exactly the ciphertext of one
 * BlobEncryptStream pass: CBC carries nothing from block to block but the
 * chaining value. A block that is not final must be a whole number of cipher
 * blocks; its ciphertext is as long as `plain`, the final one 1–16 bytes longer.
 */
export function encryptBlock(contentKey: Buffer, chainingValue: Buffer, plain: Uint8Array, final: boolean): Buffer {
  if (contentKey.length !== CONTENT_KEY_SIZE) throw new Error(`contentKey: must be ${CONTENT_KEY_SIZE} bytes`);
  if (chainingValue.length !== CIPHER_BLOCK_SIZE) throw new Error(`chainingValue: must be ${CIPHER_BLOCK_SIZE} bytes`);
  if (!final && plain.length % CIPHER_BLOCK_SIZE !== 0) throw new Error(`plain: a block that is not the last must be a multiple of ${CIPHER_BLOCK_SIZE} bytes`);
  const cipher = crypto.createCipheriv('aes-256-cbc', contentKey, chainingValue);
  if (!final) {
    cipher.setAutoPadding(false);
    return cipher.update(plain);
  }
  const body = cipher.update(plain);
  const tail = cipher.final();
  return body.length === 0 ? tail : Buffer.concat([body, tail], body.length + tail.length);
}

export interface BlobEncryptorOptions {
  /** The account's public encryption key (from the key store). */
  publicKey: PublicKeyInput;
  /** Key id written into WrappedContentKey.KeyId. */
  keyId: string;
  /** Content key (32 bytes); random when omitted. Keep it to resume the upload. */
  contentKey?: Buffer;
  /** IV (16 bytes); random when omitted. */
  iv?: Buffer;
}

export interface BlobEncryptor {
  /** Pipe the plain file through it; read ciphertext out. */
  stream: BlobEncryptStream;
  /** Value of the x-ms-meta-encryptiondata header (JSON.stringify it). */
  encryptionData: EncryptionData;
  contentKey: Buffer;
  iv: Buffer;
}

/** Starts encrypting a file from its first byte. */
export function createBlobEncryptor(options: BlobEncryptorOptions): BlobEncryptor {
  const contentKey = options.contentKey ?? crypto.randomBytes(CONTENT_KEY_SIZE);
  const iv = options.iv ?? crypto.randomBytes(CIPHER_BLOCK_SIZE);
  const encryptionData = buildEncryptionData(iv, wrapContentKey(contentKey, options.publicKey, options.keyId));
  return { stream: new BlobEncryptStream(contentKey, iv), encryptionData, contentKey, iv };
}

/**
 * Continues an interrupted encryption. Feed it the plain file from
 * `plainOffset`, which must be a multiple of 16 equal to the ciphertext bytes
 * already committed; `chainingValue` is the last 16 of those bytes.
 */
export function resumeBlobEncryptor(options: { contentKey: Buffer; chainingValue: Buffer; plainOffset: number }): BlobEncryptStream {
  if (!Number.isSafeInteger(options.plainOffset) || options.plainOffset <= 0 || options.plainOffset % CIPHER_BLOCK_SIZE !== 0) {
    throw new Error(`plainOffset: must be a positive multiple of ${CIPHER_BLOCK_SIZE}`);
  }
  return new BlobEncryptStream(options.contentKey, options.chainingValue);
}

/** Decrypting Transform for a blob written with the metadata given. */
export function createBlobDecryptor(options: { encryptionData: EncryptionData; privateKey: PrivateKeyInput }): Transform {
  const key = unwrapContentKey(options.encryptionData.WrappedContentKey, options.privateKey);
  const iv = Buffer.from(options.encryptionData.ContentEncryptionIV, 'base64');
  return crypto.createDecipheriv('aes-256-cbc', key, iv);
}
