// Import of the JSON connection file an administrator downloads from Clearance
// (CLEARANCE-API.md §3): strict validation with one message per broken field, and the
// split into the public account facts and the secret part (private key + API key).
// No message here ever contains a secret value: key parts and the API key are only
// ever named, never quoted.

import { createHash, createPrivateKey, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import * as path from 'node:path';
import { BASE_ADDRESS_KEYS, type ConnectionFile, type ServicePrincipalKey } from '../clearance/api';
import { describeType, isPlainObject, type FieldIssue } from './fieldErrors';
import { parseJsonText } from './jsonText';

export type BaseAddressKey = (typeof BASE_ADDRESS_KEYS)[number];
export type BaseAddresses = Record<BaseAddressKey, string[]>;

/** The public facts of a connected account: safe to keep in plain state and to show. */
export interface AccountInfo {
  /** TenantId, shown as the role's "Account ID". */
  accountId: string;
  servicePrincipalId: string;
  /** `<ServicePrincipalId>@<TenantId>`: the STS client_id and the assertion's iss/sub. */
  clientId: string;
  /** From the key id (`urn:service:<tenant>:<name>:<id>`), else from the file name. */
  integrationName: string;
  /** ServicePrincipalKey.kid: goes into the JWT header. Public. */
  keyId: string;
  /** `SHA256:<base64>` of the public key (SPKI DER), to recognise a key without showing it. */
  publicKeyFingerprint: string;
  keyBits: number;
  /** Every list present in the file (missing optional lists are empty); no trailing slash. */
  baseAddresses: BaseAddresses;
  disableEncryption: boolean;
  certificateThumbprints: string[];
  /** File name the account was imported from (no folder), when known. */
  source?: string;
  importedAt: string; // ISO 8601
}

/** RSA private JWK reduced to what a signer needs (the .NET extras are dropped). */
/** The private RSA key of the connection file, without the .NET extras. */
export type RsaPrivateJwk = Pick<ServicePrincipalKey, 'kty' | 'kid' | 'n' | 'e' | 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi'>;

/** The secret part of an account: belongs in a SecretStore, never in state or logs. */
export interface AccountSecret {
  privateKeyJwk: RsaPrivateJwk;
  apiKey: string;
}

export type ConnectionFileResult =
  | {
      ok: true;
      connection: ConnectionFile;
      account: AccountInfo;
      secret: AccountSecret;
      errors: [];
      warnings: FieldIssue[];
    }
  | { ok: false; errors: FieldIssue[]; warnings: FieldIssue[] };

export interface ParseConnectionFileOptions {
  /** Clock for importedAt and the key's nbf/exp checks. */
  now?: Date;
}

/**
 * Lists the service cannot be used without. KeyStore is also required unless
 * DisableEncryption is true (it provides the public key evidence is wrapped with).
 */
const REQUIRED_ADDRESS_KEYS: readonly BaseAddressKey[] = [
  'SecurityTokenServiceBaseAddresses',
  'DocumentStoreBaseAddresses',
  'ApiBaseAddresses',
];

const KNOWN_TOP_LEVEL_KEYS = new Set<string>([
  ...BASE_ADDRESS_KEYS,
  'APIKey',
  'CertificateThumbprints',
  'DisableEncryption',
  'ServicePrincipalId',
  'ServicePrincipalKey',
  'TenantId',
]);

const RSA_PRIVATE_PARTS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;
const PUBLIC_PARTS = new Set<string>(['n', 'e']);
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** .NET DateTime as serialized by Json.NET / System.Text.Json, optional fraction and zone. */
const DOTNET_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$/;
const KID_SHAPE = /^urn:service:([^:]+):(.+):([^:]+)$/;

export function parseConnectionFile(
  text: string,
  source?: string,
  options: ParseConnectionFileOptions = {},
): ConnectionFileResult {
  const errors: FieldIssue[] = [];
  const warnings: FieldIssue[] = [];
  const now = options.now ?? new Date();

  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    const { line, column, message } = parsed.problem;
    errors.push({ field: '(file)', message: `not valid JSON at line ${line}, column ${column}: ${message}` });
    return { ok: false, errors, warnings };
  }
  const root = parsed.value;
  if (!isPlainObject(root)) {
    errors.push({ field: '(file)', message: `must be a JSON object with the connection fields; found ${describeType(root)}` });
    return { ok: false, errors, warnings };
  }

  const missing = (key: string): string => {
    const nearMiss = Object.keys(root).find((k) => k !== key && k.toLowerCase() === key.toLowerCase());
    return nearMiss ? `missing (found '${nearMiss}': field names are case-sensitive)` : 'missing';
  };

  for (const key of Object.keys(root)) {
    if (!KNOWN_TOP_LEVEL_KEYS.has(key) && !KNOWN_TOP_LEVEL_KEYS.has(caseVariantOf(key))) {
      warnings.push({ field: key, message: 'not a known connection-file field; ignored' });
    }
  }

  // --- identity
  const tenantId = requireNonEmptyString(root, 'TenantId', errors, missing);
  const servicePrincipalId = requireNonEmptyString(root, 'ServicePrincipalId', errors, missing);
  if (tenantId?.includes('@')) errors.push({ field: 'TenantId', message: "must not contain '@' (it is joined to the principal id with '@')" });
  if (servicePrincipalId?.includes('@')) {
    errors.push({ field: 'ServicePrincipalId', message: "must not contain '@' (it is joined to the tenant id with '@')" });
  }

  // --- flags and simple values
  let disableEncryption: boolean | undefined;
  if (!('DisableEncryption' in root)) errors.push({ field: 'DisableEncryption', message: missing('DisableEncryption') });
  else if (typeof root.DisableEncryption !== 'boolean') {
    errors.push({ field: 'DisableEncryption', message: `must be true or false; found ${describeType(root.DisableEncryption)}` });
  } else disableEncryption = root.DisableEncryption;
  if (disableEncryption === true) {
    warnings.push({ field: 'DisableEncryption', message: 'is true: evidence will be uploaded without client-side encryption' });
  }

  let apiKey: string | undefined;
  if (!('APIKey' in root)) errors.push({ field: 'APIKey', message: missing('APIKey') });
  else if (typeof root.APIKey !== 'string') errors.push({ field: 'APIKey', message: `must be a string; found ${describeType(root.APIKey)}` });
  else apiKey = root.APIKey;

  const certificateThumbprints = validateThumbprints(root, errors, warnings, missing);

  // --- base addresses
  const baseAddresses = {} as BaseAddresses;
  for (const key of BASE_ADDRESS_KEYS) {
    const required = REQUIRED_ADDRESS_KEYS.includes(key) || (key === 'KeyStoreBaseAddresses' && disableEncryption !== true);
    baseAddresses[key] = validateAddressList(root, key, required, errors, warnings, missing);
  }

  // --- the key
  const key = validateServicePrincipalKey(root, tenantId, now, errors, warnings, missing);

  if (errors.length > 0 || !key || tenantId === undefined || servicePrincipalId === undefined || apiKey === undefined
      || disableEncryption === undefined || certificateThumbprints === undefined) {
    return { ok: false, errors, warnings };
  }

  const sourceName = source ? path.basename(source) : undefined;
  const integrationName = key.integrationName ?? (sourceName ? sourceName.replace(/\.json$/i, '') : undefined) ?? servicePrincipalId;

  const account: AccountInfo = {
    accountId: tenantId,
    servicePrincipalId,
    clientId: `${servicePrincipalId}@${tenantId}`,
    integrationName,
    keyId: key.jwk.kid,
    publicKeyFingerprint: key.fingerprint,
    keyBits: key.bits,
    baseAddresses,
    disableEncryption,
    certificateThumbprints,
    ...(sourceName ? { source: sourceName } : {}),
    importedAt: now.toISOString(),
  };
  const connection: ConnectionFile = {
    ...(Object.fromEntries(BASE_ADDRESS_KEYS.map((k) => [k, baseAddresses[k]])) as BaseAddresses),
    APIKey: apiKey,
    CertificateThumbprints: certificateThumbprints,
    DisableEncryption: disableEncryption,
    ServicePrincipalId: servicePrincipalId,
    ServicePrincipalKey: root.ServicePrincipalKey as ServicePrincipalKey,
    TenantId: tenantId,
  };
  return { ok: true, connection, account, secret: { privateKeyJwk: key.jwk, apiKey }, errors: [], warnings };
}

/** Loads the stored private JWK as a KeyObject for signing (RS256). */
export function privateKeyFromJwk(jwk: RsaPrivateJwk): KeyObject {
  return createPrivateKey({ key: rsaJwkOnly(jwk), format: 'jwk' });
}

// ---------------------------------------------------------------------------------------

function caseVariantOf(key: string): string {
  for (const known of KNOWN_TOP_LEVEL_KEYS) if (known.toLowerCase() === key.toLowerCase()) return known;
  return key;
}

function requireNonEmptyString(
  root: Record<string, unknown>,
  key: string,
  errors: FieldIssue[],
  missing: (key: string) => string,
): string | undefined {
  if (!(key in root)) {
    errors.push({ field: key, message: missing(key) });
    return undefined;
  }
  const value = root[key];
  if (typeof value !== 'string') {
    const hint = typeof value === 'number' ? ` (write it in quotes: "${value}")` : '';
    errors.push({ field: key, message: `must be a string; found ${describeType(value)}${hint}` });
    return undefined;
  }
  if (value.trim() === '') {
    errors.push({ field: key, message: 'must not be empty' });
    return undefined;
  }
  if (value !== value.trim()) {
    errors.push({ field: key, message: 'must not start or end with spaces' });
    return undefined;
  }
  return value;
}

function validateThumbprints(
  root: Record<string, unknown>,
  errors: FieldIssue[],
  warnings: FieldIssue[],
  missing: (key: string) => string,
): string[] | undefined {
  const key = 'CertificateThumbprints';
  if (!(key in root)) {
    errors.push({ field: key, message: missing(key) });
    return undefined;
  }
  const value = root[key];
  if (!Array.isArray(value)) {
    errors.push({ field: key, message: `must be a list of strings; found ${describeType(value)}` });
    return undefined;
  }
  const result: string[] = [];
  let valid = true;
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') {
      errors.push({ field: `${key}[${i}]`, message: `must be a non-empty string; found ${describeType(item)}` });
      valid = false;
      return;
    }
    if (!/^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(item.trim())) {
      warnings.push({ field: `${key}[${i}]`, message: 'is not a 40- or 64-digit hexadecimal thumbprint' });
    }
    result.push(item.trim());
  });
  return valid ? result : undefined;
}

function validateAddressList(
  root: Record<string, unknown>,
  key: BaseAddressKey,
  required: boolean,
  errors: FieldIssue[],
  warnings: FieldIssue[],
  missing: (key: string) => string,
): string[] {
  if (!(key in root)) {
    if (required) errors.push({ field: key, message: missing(key) });
    else warnings.push({ field: key, message: 'missing; treated as an empty list' });
    return [];
  }
  const value = root[key];
  if (!Array.isArray(value)) {
    errors.push({ field: key, message: `must be a list of URLs; found ${describeType(value)}` });
    return [];
  }
  if (value.length === 0 && required) {
    errors.push({ field: key, message: 'must hold at least one URL' });
    return [];
  }
  const result: string[] = [];
  value.forEach((item, i) => {
    const field = `${key}[${i}]`;
    const checked = checkBaseAddress(item);
    if (typeof checked === 'string') result.push(checked);
    else errors.push({ field, message: checked.message });
  });
  return result;
}

/** A base address is https, or http on loopback only (the local service). */
export function checkBaseAddress(value: unknown): string | { message: string } {
  if (typeof value !== 'string' || value.trim() === '') {
    return { message: `must be a URL string; found ${describeType(value)}` };
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { message: 'is not a valid absolute URL' };
  }
  if (url.username || url.password) return { message: 'must not contain a user name or password' };
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.search || url.hash) return { message: `must not have a query or fragment (${shown})` };
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) {
      return { message: `must use https:// (plain http:// is allowed only for a loopback address); found ${shown}` };
    }
  } else if (url.protocol !== 'https:') {
    return { message: `must be an https:// URL; found ${url.protocol}//` };
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** 127.0.0.0/8, localhost (and *.localhost), ::1. `hostname` as URL gives it (IPv6 in brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '[::1]' || host === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return !!m && m.slice(1).every((octet) => Number(octet) <= 255);
}

interface ValidKey {
  jwk: RsaPrivateJwk;
  fingerprint: string;
  bits: number;
  integrationName?: string;
}

function validateServicePrincipalKey(
  root: Record<string, unknown>,
  tenantId: string | undefined,
  now: Date,
  errors: FieldIssue[],
  warnings: FieldIssue[],
  missing: (key: string) => string,
): ValidKey | undefined {
  const base = 'ServicePrincipalKey';
  if (!(base in root)) {
    errors.push({ field: base, message: missing(base) });
    return undefined;
  }
  const key = root[base];
  if (!isPlainObject(key)) {
    errors.push({ field: base, message: `must be a JSON Web Key object; found ${describeType(key)}` });
    return undefined;
  }
  const before = errors.length;

  if (!('kty' in key)) errors.push({ field: `${base}.kty`, message: 'missing — must be "RSA"' });
  else if (key.kty !== 'RSA') {
    const shown = typeof key.kty === 'string' && key.kty.length <= 10 ? `"${key.kty}"` : describeType(key.kty);
    errors.push({ field: `${base}.kty`, message: `must be "RSA"; found ${shown}` });
  }

  for (const part of RSA_PRIVATE_PARTS) {
    const field = `${base}.${part}`;
    const value = key[part];
    if (value === undefined || value === null || value === '') {
      const why = PUBLIC_PARTS.has(part) ? 'the public key is incomplete' : 'the key must include its private parts';
      errors.push({ field, message: `missing — ${why}` });
    } else if (typeof value !== 'string') {
      errors.push({ field, message: `must be a base64url string; found ${describeType(value)}` });
    } else if (!BASE64URL.test(value)) {
      errors.push({ field, message: 'must be base64url (letters, digits, - and _; no padding)' });
    }
  }

  // kid: required (the token service finds the public key by it). Its documented shape is
  // only an example ("like urn:service:<tenant>:<name>:<id>"), so another shape is a
  // warning: the service, not us, is the authority on key ids.
  let integrationName: string | undefined;
  const kid = key.kid;
  if (kid === undefined || kid === null) errors.push({ field: `${base}.kid`, message: 'missing — the key id is needed to sign in' });
  else if (typeof kid !== 'string' || kid.trim() === '') {
    errors.push({ field: `${base}.kid`, message: `must be a non-empty string; found ${describeType(kid)}` });
  } else {
    const m = KID_SHAPE.exec(kid);
    if (!m) {
      warnings.push({ field: `${base}.kid`, message: `does not have the usual shape urn:service:<tenant>:<name>:<id> ("${kid}")` });
    } else {
      integrationName = m[2];
      if (tenantId !== undefined && m[1]?.toLowerCase() !== tenantId.toLowerCase()) {
        warnings.push({ field: `${base}.kid`, message: `names tenant "${m[1]}" but TenantId is "${tenantId}"` });
      }
    }
  }

  // .NET JsonWebKey extras.
  if ('k' in key && key.k !== null) {
    if (typeof key.k !== 'string') errors.push({ field: `${base}.k`, message: `must be null; found ${describeType(key.k)}` });
    else if (key.k !== '') warnings.push({ field: `${base}.k`, message: 'is set (a symmetric key value) on an RSA key; ignored' });
  }
  if ('use' in key && key.use !== null) {
    if (typeof key.use !== 'string') errors.push({ field: `${base}.use`, message: `must be a string or null; found ${describeType(key.use)}` });
    else if (key.use !== '' && key.use !== 'sig') {
      warnings.push({ field: `${base}.use`, message: `is "${key.use.slice(0, 10)}"; the key is used to sign ("sig")` });
    }
  }
  if ('x5t' in key && key.x5t !== null && typeof key.x5t !== 'string') {
    errors.push({ field: `${base}.x5t`, message: `must be a string or null; found ${describeType(key.x5t)}` });
  }
  if ('alg' in key && key.alg !== null && key.alg !== undefined && key.alg !== 'RS256') {
    warnings.push({ field: `${base}.alg`, message: 'is not RS256; the assertion is signed with RS256' });
  }
  const nbf = checkDotNetDate(key, 'nbf', base, errors);
  const exp = checkDotNetDate(key, 'exp', base, errors);
  if (exp !== undefined && exp.getTime() <= now.getTime()) {
    errors.push({ field: `${base}.exp`, message: `the key expired on ${exp.toISOString()}; download a new connection file` });
  }
  if (nbf !== undefined && nbf.getTime() > now.getTime()) {
    warnings.push({ field: `${base}.nbf`, message: `the key is not valid before ${nbf.toISOString()}` });
  }

  if (errors.length > before) return undefined;

  const parts = key as Record<(typeof RSA_PRIVATE_PARTS)[number], string>;
  const jwk: RsaPrivateJwk = {
    kty: 'RSA',
    kid: kid as string,
    n: parts.n,
    e: parts.e,
    d: parts.d,
    p: parts.p,
    q: parts.q,
    dp: parts.dp,
    dq: parts.dq,
    qi: parts.qi,
  };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: rsaJwkOnly(jwk), format: 'jwk' });
  } catch {
    // The crypto error text is not passed on: it is not helpful and must not leak key data.
    errors.push({ field: base, message: 'does not load as an RSA private key: its parts do not form a valid key' });
    return undefined;
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    errors.push({ field: base, message: 'is not an RSA key' });
    return undefined;
  }
  if (!crtPartsConsistent(jwk)) {
    // OpenSSL silently falls back to d when CRT parts are wrong; refuse such a key anyway.
    errors.push({ field: base, message: 'the private parts do not belong together (p, q, dp, dq, qi do not match n, e, d)' });
    return undefined;
  }
  const publicKey = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
  // A sign/verify round trip catches private parts that belong to another modulus.
  const probe = Buffer.from('clearance-connection-file-probe');
  let matches = false;
  try {
    matches = verify('sha256', probe, publicKey, sign('sha256', probe, privateKey));
  } catch {
    matches = false;
  }
  if (!matches) {
    errors.push({ field: base, message: 'the private parts do not match the public modulus (n, e)' });
    return undefined;
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) warnings.push({ field: `${base}.n`, message: `the key has ${bits} bits; 2048 or more is expected` });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const fingerprint = `SHA256:${createHash('sha256').update(spki).digest('base64')}`;
  return { jwk, fingerprint, bits, ...(integrationName ? { integrationName } : {}) };
}

function b64urlToBigInt(value: string): bigint {
  const hex = Buffer.from(value, 'base64url').toString('hex');
  return hex === '' ? 0n : BigInt(`0x${hex}`);
}

/** n = p·q, dp = d mod (p−1), dq = d mod (q−1), qi·q ≡ 1 (mod p). */
function crtPartsConsistent(jwk: RsaPrivateJwk): boolean {
  const [n, d, p, q, dp, dq, qi] = [jwk.n, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map(b64urlToBigInt) as bigint[] as [
    bigint, bigint, bigint, bigint, bigint, bigint, bigint,
  ];
  if (p <= 1n || q <= 1n) return false;
  return n === p * q && dp === d % (p - 1n) && dq === d % (q - 1n) && (qi * q) % p === 1n;
}

/** Only the RSA members: node's JWK import must not see the .NET extras or the kid. */
function rsaJwkOnly(key: RsaPrivateJwk): JsonWebKey {
  const out: Record<string, string> = { kty: 'RSA' };
  for (const part of RSA_PRIVATE_PARTS) out[part] = key[part];
  return out as JsonWebKey;
}

/** Returns the date, or undefined when absent, null or .NET's DateTime.MinValue (= not set). */
function checkDotNetDate(key: Record<string, unknown>, name: 'nbf' | 'exp', base: string, errors: FieldIssue[]): Date | undefined {
  const value = key[name];
  if (value === undefined || value === null) return undefined;
  const field = `${base}.${name}`;
  if (typeof value === 'number') {
    // A JWT-style NumericDate (seconds) is also accepted; 0 means not set.
    return value > 0 ? new Date(value * 1000) : undefined;
  }
  if (typeof value !== 'string') {
    errors.push({ field, message: `must be a date like "0001-01-01T00:00:00" or null; found ${describeType(value)}` });
    return undefined;
  }
  const m = DOTNET_DATE.exec(value);
  if (!m) {
    errors.push({ field, message: `must be a date like "0001-01-01T00:00:00"; found "${value.slice(0, 40)}"` });
    return undefined;
  }
  if (m[1] === '0001') return undefined;
  const zone = m[8] ?? 'Z'; // unspecified kind: read as UTC
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${(m[7] ?? '').slice(0, 4)}${zone}`);
  if (Number.isNaN(date.getTime())) {
    errors.push({ field, message: `is not a real calendar date ("${value.slice(0, 40)}")` });
    return undefined;
  }
  return date;
}
