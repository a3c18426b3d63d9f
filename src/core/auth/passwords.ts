// Site user passwords: a scrypt hash (Node's own crypto.scrypt) kept in the
// site's user record. The format names its parameters so they can be raised
// later without breaking the hashes already stored.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { FieldIssue } from '../config/fieldErrors';

const PREFIX = 'scrypt';
/** N = 2^15, r = 8, p = 1: about 30 ms and 32 MiB on these machines, per sign-in. */
const DEFAULT_PARAMS = { N: 1 << 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 128 * params.N * params.r * 2 };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (e, key) => (e ? reject(e) : resolve(key))));
}

/** What is wrong with a new password (empty when it is acceptable). Never quotes it. */
export function passwordIssues(password: unknown, field = 'password'): FieldIssue[] {
  if (typeof password !== 'string') return [{ field, message: 'must be text' }];
  if (password.length < MIN_PASSWORD_LENGTH) return [{ field, message: `must be at least ${MIN_PASSWORD_LENGTH} characters` }];
  if (password.length > MAX_PASSWORD_LENGTH) return [{ field, message: `must be at most ${MAX_PASSWORD_LENGTH} characters` }];
  return [];
}

/** `scrypt$N$r$p$<salt base64>$<key base64>` */
export async function hashPassword(password: string, params = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return [PREFIX, params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** True when the hash is one this module wrote. */
export function isPasswordHash(text: unknown): text is string {
  return typeof text === 'string' && parse(text) !== undefined;
}

function parse(hash: string): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16 || (N & (N - 1)) !== 0) return undefined;
  const salt = Buffer.from(parts[4], 'base64');
  const key = Buffer.from(parts[5], 'base64');
  if (salt.length < 8 || key.length !== KEY_LENGTH) return undefined;
  return { N, r, p, salt, key };
}

/** Constant-time check; false for a malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parsed = parse(hash);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed);
  return timingSafeEqual(key, parsed.key);
}

/** A random password for generated users (sample sites): 20 characters of base64url. */
export function randomPassword(): string {
  return randomBytes(15).toString('base64url');
}
