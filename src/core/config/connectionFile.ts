// Import of the JSON connection file an administrator downloads from Clearance
// (docs/clearance-api.md §3): strict validation with one message per broken field, and the
// split into the public account facts and the secret part (private key + API key).
// No message here ever contains a secret value: key parts and the API key are only
// ever named, never quoted.

import { createHash, createPrivateKey, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BASE_ADDRESS_KEYS, type ConnectionFile, type ServicePrincipalKey } from '../clearance/api';
import { z } from 'zod';
import { describeType, isPlainObject, ValidationError, type FieldIssue } from './fieldErrors';
import { parseJsonText } from './jsonText';
import { fieldIssues, mustBe, problem } from './schema';

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

/**
 * Bounds on what the file may hold. An id becomes the account id and half of the STS
 * client id, and ids and URLs are shown, logged, stored in plain state and placed in URL
 * paths: a file must not make them megabytes long nor hold characters that change a path
 * (`/`, `..`), a header (control characters) or a page (`<`, quotes). The id characters
 * cover every id the service issues (GUIDs, numbers, names with dashes, dots or colons).
 */
export const CONNECTION_FILE_LIMITS = {
  /**
   * The whole file, in UTF-8 bytes, checked before it is parsed. A real file is 3-10 KB
   * (a 2048-bit key and ten lists of one URL); 1 MiB holds a 16384-bit key and every list
   * at its limits.
   */
  fileBytes: 1024 * 1024,
  idLength: 128,
  /** Letters, digits, . _ : - and a letter or digit first (so never `.` or `..`). */
  idCharacters: /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
  urlLength: 2048,
  urlsPerList: 32,
  thumbprintLength: 128,
  /** Hexadecimal digits, with the colons or spaces some tools put between the bytes. */
  thumbprintCharacters: /^[0-9A-Fa-f][0-9A-Fa-f: ]*$/,
  thumbprints: 64,
  apiKeyLength: 4096,
  keyIdLength: 512,
  /** A base64url RSA key part: 16384 bits (OpenSSL's largest modulus) is 2731 characters. */
  keyPartLength: 4096,
  /** `use` and `x5t` of the .NET JsonWebKey (`"sig"`; a base64url SHA-1 thumbprint is 27 characters). */
  jwkExtraLength: 128,
} as const;
const LIMITS = CONNECTION_FILE_LIMITS;

const RSA_PRIVATE_PARTS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** .NET DateTime as serialized by Json.NET / System.Text.Json, optional fraction and zone. */
const DOTNET_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$/;
const KID_SHAPE = /^urn:service:([^:]+):(.+):([^:]+)$/;
const THUMBPRINT = /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
/** Visible ASCII: what an HTTP header value may carry without encoding. */
const VISIBLE_ASCII = /^[\x21-\x7e]*$/;
/**
 * Key id characters: printable, none of the characters that would change a page or a
 * quoted string (< > " ' ` \\ &), no control, formatting (bidi overrides, zero width),
 * line or paragraph separator, or unassigned code points. Spaces are allowed inside (an
 * integration name may hold them).
 */
const KEY_ID_CHARACTERS = /^[^\p{C}\p{Zl}\p{Zp}<>"'`\\&]+$/u;
/** The characters a URL may hold unencoded (RFC 3986: unreserved, reserved and %). */
const URL_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
/** A `.` or `..` path segment, also percent-encoded: the URL parser would resolve it away. */
const DOT_SEGMENT = /\/(\.|%2e){1,2}(\/|$)/i;
/** What may be quoted back in a message as it is. */
const QUOTABLE = /^[A-Za-z0-9 ._:+/=-]*$/;
/** How many unknown top-level fields are named one by one. */
const UNKNOWN_FIELDS_NAMED = 10;
const UNKNOWN_FIELD_NAME = /^[A-Za-z0-9_$.-]{1,64}$/;

// --- the schemas: every field's own messages; what needs the clock, the crypto or is only a
// warning stays in parseConnectionFile below.

/** TenantId or ServicePrincipalId; `other` is the id it is joined to with '@'. */
function identifier(other: string) {
  return z.string({
    error: ({ input }) => (input === undefined ? 'missing'
      : `must be a string; found ${describeType(input)}${typeof input === 'number' ? ` (write it in quotes: "${input}")` : ''}`),
  }).superRefine(problem((id) => {
    if (id.trim() === '') return 'must not be empty';
    if (id !== id.trim()) return 'must not start or end with spaces';
    if (id.includes('@')) return `must not contain '@' (it is joined to the ${other} id with '@')`;
    if (id.length > LIMITS.idLength) return `is too long (at most ${LIMITS.idLength} characters; found ${id.length})`;
    if (!/^[A-Za-z0-9._:-]+$/.test(id)) return 'must hold only letters, digits and . _ : -';
    // `.` and `..` would climb out of the URL path the id is placed in.
    if (!LIMITS.idCharacters.test(id)) return 'must start with a letter or a digit';
    return undefined;
  }));
}
export const tenantIdSchema = identifier('principal');
export const servicePrincipalIdSchema = identifier('tenant');

/** One base address, normalised (see checkBaseAddress). */
export const baseAddressSchema = z.unknown().transform((value, ctx) => {
  const checked = checkBaseAddress(value);
  if (typeof checked === 'string') return checked;
  ctx.addIssue({ code: 'custom', message: checked.message, input: value });
  return z.NEVER;
});
// Counts are checked with problem(), not .min()/.max(): zod runs those on anything with a
// length, so a string given for a list would also be "too short".
const addressList = (required: boolean) => z.array(baseAddressSchema, mustBe('a list of URLs', 'missing')).superRefine(problem((list) => {
  if (required && list.length === 0) return 'must hold at least one URL';
  return list.length > LIMITS.urlsPerList ? `must hold at most ${LIMITS.urlsPerList} URLs` : undefined;
}));
const addressLists = Object.fromEntries(BASE_ADDRESS_KEYS.map((key) => [
  key,
  REQUIRED_ADDRESS_KEYS.includes(key) ? addressList(true) : addressList(false).optional(),
])) as Record<BaseAddressKey, ReturnType<typeof addressList> | z.ZodOptional<ReturnType<typeof addressList>>>;

function keyPart(part: (typeof RSA_PRIVATE_PARTS)[number]) {
  const absent = `missing — ${part === 'n' || part === 'e' ? 'the public key is incomplete' : 'the key must include its private parts'}`;
  return z.string({ error: ({ input }) => (input == null ? absent : `must be a base64url string; found ${describeType(input)}`) })
    .superRefine(problem((value) => {
      if (value === '') return absent;
      if (value.length > LIMITS.keyPartLength) return `is too long (at most ${LIMITS.keyPartLength} characters)`;
      return BASE64URL.test(value) ? undefined : 'must be base64url (letters, digits, - and _; no padding)';
    }));
}
const dotNetDate = z.unknown().optional().superRefine(problem((value) => {
  const date = readDotNetDate(value);
  return date === undefined || date instanceof Date ? undefined : date.message;
}));

/** ServicePrincipalKey: the RSA private JWK with the .NET JsonWebKey extras. */
export const servicePrincipalKeySchema = z.object({
  kty: z.literal('RSA', {
    error: ({ input }) => (input === undefined ? 'missing — must be "RSA"' : `must be "RSA"; found ${quoted(input, 10)}`),
  }),
  n: keyPart('n'), e: keyPart('e'), d: keyPart('d'), p: keyPart('p'), q: keyPart('q'), dp: keyPart('dp'), dq: keyPart('dq'), qi: keyPart('qi'),
  // Required (the token service finds the public key by it); its shape is only warned about.
  kid: z.string({ error: ({ input }) => (input == null ? 'missing — the key id is needed to sign in' : `must be a non-empty string; found ${describeType(input)}`) })
    .superRefine(problem((kid) => {
      if (kid.trim() === '') return 'must be a non-empty string; found a string';
      if (kid.length > LIMITS.keyIdLength) return `is too long (at most ${LIMITS.keyIdLength} characters)`;
      if (CONTROL_CHARS.test(kid)) return 'must not contain control characters';
      if (kid !== kid.trim()) return 'must not start or end with spaces';
      return KEY_ID_CHARACTERS.test(kid) ? undefined
        : 'must hold only printable characters, none of < > " \' ` \\ & (no formatting or invisible characters)';
    })),
  // .NET JsonWebKey extras.
  k: z.string(mustBe('null')).superRefine(problem((k) => (k.length > LIMITS.keyPartLength ? `is too long (at most ${LIMITS.keyPartLength} characters)` : undefined))).nullish(),
  use: z.string(mustBe('a string or null')).superRefine(problem((use) => {
    if (use.length > LIMITS.jwkExtraLength) return `is too long (at most ${LIMITS.jwkExtraLength} characters)`;
    return VISIBLE_ASCII.test(use) ? undefined : 'must hold only visible ASCII characters (it is "sig" for a signing key)';
  })).nullish(),
  x5t: z.string(mustBe('a string or null')).superRefine(problem((x5t) => {
    if (x5t.length > LIMITS.jwkExtraLength) return `is too long (at most ${LIMITS.jwkExtraLength} characters)`;
    return x5t === '' || BASE64URL.test(x5t) ? undefined : 'must be a base64url thumbprint (letters, digits, - and _)';
  })).nullish(),
  nbf: dotNetDate,
  exp: dotNetDate,
}, mustBe('a JSON Web Key object', 'missing'));

/**
 * The connection file's fields, each checked on its own (all problems at once). The
 * checks that need more than the file (the key's expiry, whether its parts form a key)
 * and the warnings are parseConnectionFile's.
 */
export const connectionFileSchema = z.object({
  TenantId: tenantIdSchema,
  ServicePrincipalId: servicePrincipalIdSchema,
  DisableEncryption: z.boolean(mustBe('true or false', 'missing')),
  APIKey: z.string(mustBe('a string', 'missing')).superRefine(problem((key) => {
    if (key.length > LIMITS.apiKeyLength) return `is too long (at most ${LIMITS.apiKeyLength} characters)`;
    if (CONTROL_CHARS.test(key)) return 'must not contain control characters (it is sent in a header)';
    return VISIBLE_ASCII.test(key) ? undefined : 'must hold only visible ASCII characters: no spaces or non-ASCII letters (it is sent in a header)';
  })),
  CertificateThumbprints: z.array(
    z.string({ error: ({ input }) => `must be a non-empty string; found ${describeType(input)}` }).trim().superRefine(problem((print) => {
      if (print === '') return 'must be a non-empty string; found a string';
      if (print.length > LIMITS.thumbprintLength) return `is too long (at most ${LIMITS.thumbprintLength} characters)`;
      return LIMITS.thumbprintCharacters.test(print) ? undefined : 'must hold only hexadecimal digits (0-9, A-F), with colons or spaces between bytes';
    })),
    mustBe('a list of strings', 'missing'),
  ).superRefine(problem((prints) => (prints.length > LIMITS.thumbprints ? `must hold at most ${LIMITS.thumbprints} thumbprints` : undefined))),
  ...addressLists,
  ServicePrincipalKey: servicePrincipalKeySchema,
}, mustBe('a JSON object with the connection fields')).superRefine((file, ctx) => {
  // The key store is needed unless encryption is off; checked also when other fields are wrong.
  const list = file.KeyStoreBaseAddresses as unknown;
  if (file.DisableEncryption === true || (list !== undefined && !Array.isArray(list))) return;
  if (list === undefined || list.length === 0) {
    ctx.addIssue({ code: 'custom', message: list === undefined ? 'missing' : 'must hold at least one URL', path: ['KeyStoreBaseAddresses'] });
  }
}, { when: (payload) => isPlainObject(payload.value) });

const KNOWN_TOP_LEVEL_KEYS = Object.keys(connectionFileSchema.shape);

export function parseConnectionFile(
  text: string,
  source?: string,
  options: ParseConnectionFileOptions = {},
): ConnectionFileResult {
  const now = options.now ?? new Date();

  // Before anything reads the text: a huge file is refused by its size alone.
  const tooBig = fileSizeProblem(text);
  if (tooBig) return { ok: false, errors: [{ field: '(file)', message: tooBig }], warnings: [] };
  const encoding = encodingProblem(text);
  if (encoding) return { ok: false, errors: [{ field: '(file)', message: encoding }], warnings: [] };

  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    const { line, column, message } = parsed.problem;
    return { ok: false, errors: [{ field: '(file)', message: `not valid JSON at line ${line}, column ${column}: ${message}` }], warnings: [] };
  }
  const root = parsed.value;
  const result = connectionFileSchema.safeParse(root);
  if (!isPlainObject(root)) return { ok: false, errors: result.error ? fieldIssues(result.error, '(file)') : [], warnings: [] };

  const errors = result.success ? [] : fieldIssues(result.error, '(file)', KNOWN_TOP_LEVEL_KEYS).map((issue) => {
    // A missing field that is there in another case: a typed file, not a downloaded one.
    const nearMiss = issue.message === 'missing' && Object.keys(root).find((k) => k !== issue.field && k.toLowerCase() === issue.field.toLowerCase());
    return nearMiss ? { ...issue, message: `missing (found '${nearMiss}': field names are case-sensitive)` } : issue;
  });
  const failed = (field: string): boolean => errors.some((e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`));
  const warnings = connectionWarnings(root, failed, now);

  const spk = root.ServicePrincipalKey;
  const exp = isPlainObject(spk) && !failed('ServicePrincipalKey.exp') ? readDotNetDate(spk.exp) : undefined;
  if (exp instanceof Date && exp.getTime() <= now.getTime()) {
    errors.push({ field: 'ServicePrincipalKey.exp', message: `the key expired on ${exp.toISOString()}; download a new connection file` });
  }
  const key = failed('ServicePrincipalKey') ? undefined : checkKeyPair(spk as RsaPrivateJwk, errors, warnings);
  if (!result.success || !key) return { ok: false, errors, warnings };

  const file = result.data;
  const baseAddresses = Object.fromEntries(BASE_ADDRESS_KEYS.map((k) => [k, file[k] ?? []])) as BaseAddresses;
  const { TenantId: tenantId, ServicePrincipalId: servicePrincipalId, ServicePrincipalKey: { kid, n, e, d, p, q, dp, dq, qi } } = file;
  const sourceName = source ? path.basename(source) : undefined;
  const integrationName = KID_SHAPE.exec(kid)?.[2] ?? (sourceName ? sourceName.replace(/\.json$/i, '') : undefined) ?? servicePrincipalId;

  const account: AccountInfo = {
    accountId: tenantId,
    servicePrincipalId,
    clientId: `${servicePrincipalId}@${tenantId}`,
    integrationName,
    keyId: kid,
    publicKeyFingerprint: key.fingerprint,
    keyBits: key.bits,
    baseAddresses,
    disableEncryption: file.DisableEncryption,
    certificateThumbprints: file.CertificateThumbprints,
    ...(sourceName ? { source: sourceName } : {}),
    importedAt: now.toISOString(),
  };
  const connection: ConnectionFile = {
    ...baseAddresses,
    APIKey: file.APIKey,
    CertificateThumbprints: file.CertificateThumbprints,
    DisableEncryption: file.DisableEncryption,
    ServicePrincipalId: servicePrincipalId,
    ServicePrincipalKey: spk as ServicePrincipalKey,
    TenantId: tenantId,
  };
  const privateKeyJwk: RsaPrivateJwk = { kty: 'RSA', kid, n, e, d, p, q, dp, dq, qi };
  return { ok: true, connection, account, secret: { privateKeyJwk, apiKey: file.APIKey }, errors: [], warnings };
}

/**
 * Reads a connection file from disk for parseConnectionFile, refusing a file larger than
 * the limit by its size on disk, before reading it. Throws a ValidationError naming
 * `(file)` (too large, not a file, UTF-16), or the error of the read.
 */
export async function readConnectionFileText(file: string): Promise<string> {
  const refuse = (message: string): never => {
    throw new ValidationError(`The connection file ${path.basename(file)}`, [{ field: '(file)', message }]);
  };
  const stat = await fs.stat(file);
  if (!stat.isFile()) refuse('is not a file');
  if (stat.size > LIMITS.fileBytes) refuse(sizeMessage(stat.size));
  const bytes = await fs.readFile(file);
  // It may have grown between the stat and the read.
  if (bytes.length > LIMITS.fileBytes) refuse(sizeMessage(bytes.length));
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) refuse(UTF16_MESSAGE);
  return bytes.toString('utf8');
}

function sizeMessage(bytes: number): string {
  return `is ${bytes.toLocaleString('en')} bytes: a connection file is at most ${LIMITS.fileBytes.toLocaleString('en')} bytes (1 MiB)`;
}

/** The file-size refusal, or undefined. Counted in UTF-8 bytes, as the file is on disk. */
export function fileSizeProblem(text: string): string | undefined {
  // Each UTF-16 code unit is one to three UTF-8 bytes: most texts need no count.
  if (text.length <= LIMITS.fileBytes / 3) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > LIMITS.fileBytes ? sizeMessage(bytes) : undefined;
}

const UTF16_MESSAGE = 'is UTF-16 or UTF-32 text: a connection file is UTF-8 JSON (save it again as UTF-8)';

/** UTF-16 read as UTF-8 (two replacement characters for its byte order mark, or NULs between the letters). */
function encodingProblem(text: string): string | undefined {
  const head = text.charCodeAt(0) === 0xfeff ? text.slice(1, 9) : text.slice(0, 8);
  return head.startsWith('\ufffd\ufffd') || head.includes('\u0000') ? UTF16_MESSAGE : undefined;
}

/** Loads the stored private JWK as a KeyObject for signing (RS256). */
export function privateKeyFromJwk(jwk: RsaPrivateJwk): KeyObject {
  return createPrivateKey({ key: rsaJwkOnly(jwk), format: 'jwk' });
}

// ---------------------------------------------------------------------------------------

/** What is unusual but usable, said also when other fields are wrong (nothing about those). */
function connectionWarnings(root: Record<string, unknown>, failed: (field: string) => boolean, now: Date): FieldIssue[] {
  const warnings: FieldIssue[] = [];
  const known = (key: string): boolean => KNOWN_TOP_LEVEL_KEYS.some((k) => k.toLowerCase() === key.toLowerCase());
  // Unknown names are the file's: named only when short and plain, and only the first few.
  const unknown = Object.keys(root).filter((key) => !known(key));
  const named = unknown.filter((key) => UNKNOWN_FIELD_NAME.test(key)).slice(0, UNKNOWN_FIELDS_NAMED);
  for (const key of named) warnings.push({ field: key, message: 'not a known connection-file field; ignored' });
  if (unknown.length > named.length) {
    const rest = unknown.length - named.length;
    warnings.push({ field: '(file)', message: `${named.length > 0 ? `and ${rest} more` : `${rest}`} unknown field${rest === 1 ? '' : 's'} (not named here); ignored` });
  }
  if (root.DisableEncryption === true) {
    warnings.push({ field: 'DisableEncryption', message: 'is true: evidence will be uploaded without client-side encryption' });
  }
  if (Array.isArray(root.CertificateThumbprints)) {
    root.CertificateThumbprints.forEach((print: unknown, i) => {
      const field = `CertificateThumbprints[${i}]`;
      if (typeof print === 'string' && !failed(field) && !THUMBPRINT.test(print.trim())) {
        warnings.push({ field, message: 'is not a 40- or 64-digit hexadecimal thumbprint' });
      }
    });
  }
  for (const key of BASE_ADDRESS_KEYS) {
    const required = REQUIRED_ADDRESS_KEYS.includes(key) || (key === 'KeyStoreBaseAddresses' && root.DisableEncryption !== true);
    if (!required && !(key in root)) warnings.push({ field: key, message: 'missing; treated as an empty list' });
  }

  const key = root.ServicePrincipalKey;
  if (!isPlainObject(key)) return warnings;
  const base = 'ServicePrincipalKey';
  // The documented shape of kid is only an example ("like urn:service:<tenant>:<name>:<id>"):
  // the service, not us, is the authority on key ids.
  if (typeof key.kid === 'string' && !failed(`${base}.kid`)) {
    const m = KID_SHAPE.exec(key.kid);
    const tenantId = typeof root.TenantId === 'string' && !failed('TenantId') ? root.TenantId : undefined;
    if (!m) {
      warnings.push({ field: `${base}.kid`, message: `does not have the usual shape urn:service:<tenant>:<name>:<id> ("${key.kid}")` });
    } else if (tenantId !== undefined && m[1]?.toLowerCase() !== tenantId.toLowerCase()) {
      warnings.push({ field: `${base}.kid`, message: `names tenant "${m[1]}" but TenantId is "${tenantId}"` });
    }
  }
  if (typeof key.k === 'string' && key.k !== '') {
    warnings.push({ field: `${base}.k`, message: 'is set (a symmetric key value) on an RSA key; ignored' });
  }
  if (typeof key.use === 'string' && key.use !== '' && key.use !== 'sig') {
    warnings.push({ field: `${base}.use`, message: `is ${quoted(key.use, 10)}; the key is used to sign ("sig")` });
  }
  if ('alg' in key && key.alg !== null && key.alg !== undefined && key.alg !== 'RS256') {
    warnings.push({ field: `${base}.alg`, message: 'is not RS256; the assertion is signed with RS256' });
  }
  const nbf = failed(`${base}.nbf`) ? undefined : readDotNetDate(key.nbf);
  if (nbf instanceof Date && nbf.getTime() > now.getTime()) {
    warnings.push({ field: `${base}.nbf`, message: `the key is not valid before ${nbf.toISOString()}` });
  }
  return warnings;
}

/** A base address is https, or http on loopback only (the local service). */
export function checkBaseAddress(value: unknown): string | { message: string } {
  if (typeof value !== 'string' || value.trim() === '') {
    return { message: `must be a URL string; found ${describeType(value)}` };
  }
  if (value.length > LIMITS.urlLength) return { message: `is too long (at most ${LIMITS.urlLength} characters)` };
  const raw = value.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return { message: 'is not a valid absolute URL' };
  // The URL parser silently drops tabs and line breaks and reads '\' as '/': refuse them first.
  const chars = [...raw];
  const bad = chars.findIndex((ch) => !URL_CHARACTERS.test(ch));
  if (bad >= 0) {
    const code = chars[bad]!.codePointAt(0)!;
    const what = code === 0x20 ? 'a space' : code < 0x20 || code === 0x7f ? 'a control character'
      : code > 0x7e ? 'a non-ASCII character (write a host name in punycode)' : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return { message: `must hold only URL characters (RFC 3986; others percent-encoded); found ${what} at position ${bad + 1}` };
  }
  // Dot segments would be resolved away by the parser: the path would not be the one written.
  if (DOT_SEGMENT.test(raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, ''))) return { message: 'must not contain . or .. path segments' };
  let url: URL;
  try {
    url = new URL(raw);
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

/**
 * Proves that the key's parts (each already well-formed) make one RSA key pair; answers
 * its fingerprint and size, or adds the error and answers undefined.
 */
function checkKeyPair(jwk: RsaPrivateJwk, errors: FieldIssue[], warnings: FieldIssue[]): { fingerprint: string; bits: number } | undefined {
  const base = 'ServicePrincipalKey';
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
  return { fingerprint: `SHA256:${createHash('sha256').update(spki).digest('base64')}`, bits };
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

/** A .NET DateTime (or a JWT NumericDate); undefined when absent, null, 0 or DateTime.MinValue (= not set). */
function readDotNetDate(value: unknown): Date | undefined | { message: string } {
  if (value === undefined || value === null) return undefined;
  // A JWT-style NumericDate (seconds) is also accepted; 0 means not set.
  if (typeof value === 'number') return value > 0 ? new Date(value * 1000) : undefined;
  if (typeof value !== 'string') return { message: `must be a date like "0001-01-01T00:00:00" or null; found ${describeType(value)}` };
  const m = DOTNET_DATE.exec(value);
  if (!m) return { message: `must be a date like "0001-01-01T00:00:00"; found ${quoted(value, 40)}` };
  if (m[1] === '0001') return undefined;
  const zone = m[8] ?? 'Z'; // unspecified kind: read as UTC
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${(m[7] ?? '').slice(0, 4)}${zone}`);
  return Number.isNaN(date.getTime()) ? { message: `is not a real calendar date ("${value}")` } : date;
}

/** A value as a message may show it: short plain strings quoted, anything else by its type and size. */
function quoted(value: unknown, max: number): string {
  if (typeof value !== 'string') return describeType(value);
  return value.length <= max && QUOTABLE.test(value) ? `"${value}"` : `a string of ${value.length} characters`;
}
