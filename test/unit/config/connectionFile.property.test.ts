// Property-based tests of the connection-file import (issue 13): generated files of every
// kind of breakage, each refused with errors that name the field (or the file) and never
// quote it, none of them touching the account already connected; and generated valid
// variations of a real file (layout, key order, byte order mark, escapes, optional and
// unknown fields), each accepted as the same account.
//
// Decisions about what is valid:
// - A UTF-8 byte order mark is accepted (Windows tools write one); two of them, one in the
//   middle of the file, or UTF-16/UTF-32 text are refused.
// - Unknown fields are accepted with a warning (a newer service may add fields): named when
//   their name is plain, else counted under (file).
// - Any JSON whitespace, any key order and any JSON escape of a character are accepted.
//
// Fixed seed (printed); FC_SEED=<n> replays another. The summary line gives the count per kind.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { appendFileSync, promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import Keyv from 'keyv';
import { BASE_ADDRESS_KEYS } from '../../../src/core/clearance/api';
import { AccountStore } from '../../../src/core/config/accountStore';
import { CONNECTION_FILE_LIMITS, parseConnectionFile, type AccountInfo } from '../../../src/core/config/connectionFile';
import type { FieldIssue } from '../../../src/core/config/fieldErrors';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { JournalStore } from '../../../src/core/store/journalStore';
import { connectionFile, otherJwk, secretValues, testJwk, toFileText } from './connectionFixture';
import { random } from '../control/helpers';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 13_2025;
const NOW = new Date('2025-06-01T12:00:00Z');
const LIMITS = CONNECTION_FILE_LIMITS;
const FILE_LIMIT_MESSAGE = /^is [\d,]+ bytes: a connection file is at most 1,048,576 bytes \(1 MiB\)$/;

type Json = Record<string, unknown>;
type Spk = Record<string, unknown>;
type File = Json & { ServicePrincipalKey: Spk };

/** What a generated case must give. */
type Expect =
  | { accept: true; same: 'account' | 'identity' }
  /** Each of `fields` named (the field itself, or a part of it: `X[0]`, `X.y`); messages matching `message` when given. */
  | { accept: false; fields: string[]; message?: RegExp; echo?: string[] };

interface Case {
  kind: Kind;
  label: string;
  text: string;
  expect: Expect;
}

const KINDS = [
  'missing fields', 'extra fields', 'mistyped fields', 'broken keys', 'public-only keys', 'huge strings',
  'not JSON', 'byte-order marks', 'deep nesting', 'hostile strings', 'valid variations',
] as const;
type Kind = (typeof KINDS)[number];

/** Cases per kind (about 2,000 in all, some 10 s); the byte-order marks are 12 distinct files. */
const RUNS: Record<Kind, number> = {
  'missing fields': 200, 'extra fields': 150, 'mistyped fields': 250, 'broken keys': 150, 'public-only keys': 80,
  'huge strings': 150, 'not JSON': 250, 'byte-order marks': 40, 'deep nesting': 100, 'hostile strings': 300,
  'valid variations': 250,
};

const base = (): File => structuredClone(connectionFile()) as File;
const PRIVATE_PARTS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;
const KEY_PARTS = ['n', 'e', ...PRIVATE_PARTS] as const;
const OPTIONAL_LISTS = ['DeviceServiceBaseAddresses', 'CaseServiceBaseAddresses', 'SearchServiceBaseAddresses', 'UserServiceBaseAddresses', 'CADApiAddresses'] as const;
const REQUIRED_TOP = ['TenantId', 'ServicePrincipalId', 'DisableEncryption', 'APIKey', 'CertificateThumbprints', 'SecurityTokenServiceBaseAddresses', 'DocumentStoreBaseAddresses', 'ApiBaseAddresses', 'KeyStoreBaseAddresses', 'ServicePrincipalKey'] as const;
const REQUIRED_KEY = ['kty', 'kid', ...KEY_PARTS] as const;
const KNOWN_LOWER = new Set([...REQUIRED_TOP, ...OPTIONAL_LISTS].map((k) => k.toLowerCase()));

/** The account the canonical file gives (importedAt aside). */
const canonical = (() => {
  const result = parseConnectionFile(toFileText(base()), undefined, { now: NOW });
  assert.ok(result.ok);
  return result.account;
})();

// ---- serialisation with a seeded layout ---------------------------------------------------

interface Layout {
  whitespace: boolean;
  shuffle: boolean;
  escapes: boolean;
}

/** JSON text of `value` with random JSON whitespace, key order and character escapes. */
function serialize(value: unknown, seed: number, layout: Layout): string {
  const rnd = random(seed);
  const ws = (): string => (layout.whitespace ? ['', ' ', '  ', '\t', '\n', '\r\n', ' \r\n\t '][Math.floor(rnd() * 7)]! : '');
  const str = (s: string): string => {
    if (!layout.escapes) return JSON.stringify(s);
    let out = '"';
    for (const ch of JSON.stringify(s).slice(1, -1).match(/\\u[0-9a-fA-F]{4}|\\.|[\s\S]/gu) ?? []) {
      const r = rnd();
      if (ch.length === 1 && r < 0.15) out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
      else if (ch === '/' && r < 0.5) out += '\\/';
      else out += ch;
    }
    return `${out}"`;
  };
  const walk = (v: unknown): string => {
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => `${walk(x)}${ws()}`).join(`,${ws()}`)}]`;
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (layout.shuffle) {
        for (let i = keys.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [keys[i], keys[j]] = [keys[j]!, keys[i]!];
        }
      }
      return `{${ws()}${keys.map((k) => `${str(k)}${ws()}:${ws()}${walk((v as Json)[k])}${ws()}`).join(`,${ws()}`)}}`;
    }
    return typeof v === 'string' ? str(v) : JSON.stringify(v);
  };
  return `${ws()}${walk(value)}${ws()}`;
}

/** Inserts `"name": <raw JSON>` as the first member (raw text, so `__proto__` stays a member). */
function withRawMember(text: string, name: string, raw: string): string {
  return text.replace(/^\s*\{/, () => `{${JSON.stringify(name)}: ${raw},`);
}

// ---- generators, one per kind --------------------------------------------------------------

const seedArb = fc.noBias(fc.integer());
const listField = fc.constantFrom(...BASE_ADDRESS_KEYS);

const missingFields: fc.Arbitrary<Case> = fc.oneof(
  fc.uniqueArray(fc.constantFrom(...REQUIRED_TOP.map((f) => `top:${f}`), ...REQUIRED_KEY.map((f) => `key:${f}`)), { minLength: 1, maxLength: 4 }).map((picked) => {
    const file = base();
    const named: string[] = [];
    for (const p of picked) {
      const [where, name] = p.split(':') as ['top' | 'key', string];
      if (where === 'top') {
        delete file[name];
        named.push(name);
      } else if (picked.includes('top:ServicePrincipalKey')) continue;
      else {
        delete file.ServicePrincipalKey[name];
        named.push(`ServicePrincipalKey.${name}`);
      }
    }
    return { kind: 'missing fields' as const, label: picked.join(','), text: toFileText(file), expect: { accept: false as const, fields: named, message: /^missing/ } };
  }),
  // A field written in another case: "missing (found 'tenantId': field names are case-sensitive)".
  fc.tuple(fc.constantFrom(...REQUIRED_TOP), fc.nat()).map(([field, n]) => {
    const file = base();
    const variant = n % 2 === 0 ? field.toLowerCase() : field.toUpperCase();
    const value = file[field];
    delete file[field];
    file[variant] = value;
    return { kind: 'missing fields' as const, label: `case of ${field}`, text: toFileText(file), expect: { accept: false as const, fields: [field], message: /^missing \(found '.+': field names are case-sensitive\)$/ } };
  }),
);

const plainName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,20}$/).filter((n) => !KNOWN_LOWER.has(n.toLowerCase()));
const oddName = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '<script>alert(1)</script>', '../../etc/passwd', 'a\u0000b', '\u202eevil', 'x'.repeat(500)),
).filter((n) => !KNOWN_LOWER.has(n.toLowerCase()));
const extraFields: fc.Arbitrary<Case> = fc.tuple(
  fc.uniqueArray(fc.tuple(fc.oneof(plainName, oddName), fc.jsonValue({ maxDepth: 3 })), { minLength: 1, maxLength: 15, selector: ([n]) => n }),
  fc.uniqueArray(fc.tuple(fc.constantFrom('alg', 'key_ops', 'x5c', 'crv', 'oth', 'KeyId', 'CryptoProviderFactory'), fc.jsonValue({ maxDepth: 2 })), { maxLength: 3, selector: ([n]) => n }),
).map(([extras, keyExtras]) => {
  const file = base();
  for (const [name, value] of keyExtras) file.ServicePrincipalKey[name] = value;
  let text = toFileText(file);
  for (const [name, value] of extras) text = withRawMember(text, name, JSON.stringify(value));
  return { kind: 'extra fields' as const, label: extras.map(([n]) => JSON.stringify(n).slice(0, 20)).join(','), text, expect: { accept: true as const, same: 'account' as const } };
});

/** Values of each JSON type; `wrongFor` keeps those the field does not take. */
const anyJson = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.string({ maxLength: 10 }), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }));
type JsonType = 'number' | 'boolean' | 'null' | 'string' | 'array' | 'object';
const typeOf = (v: unknown): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonType));
const ACCEPTS: Record<string, JsonType[]> = {
  TenantId: ['string'], ServicePrincipalId: ['string'], APIKey: ['string'], DisableEncryption: ['boolean'],
  CertificateThumbprints: ['array'], ServicePrincipalKey: ['object'],
  ...Object.fromEntries(BASE_ADDRESS_KEYS.map((k) => [k, ['array']])),
  'ServicePrincipalKey.kty': ['string'], 'ServicePrincipalKey.kid': ['string'],
  ...Object.fromEntries(KEY_PARTS.map((p) => [`ServicePrincipalKey.${p}`, ['string']])),
  'ServicePrincipalKey.k': ['string', 'null'], 'ServicePrincipalKey.use': ['string', 'null'], 'ServicePrincipalKey.x5t': ['string', 'null'],
  'ServicePrincipalKey.nbf': ['string', 'null', 'number'], 'ServicePrincipalKey.exp': ['string', 'null', 'number'],
  'CertificateThumbprints[0]': ['string'], 'ApiBaseAddresses[0]': ['string'], 'KeyStoreBaseAddresses[0]': ['string'],
};
function setAt(file: File, field: string, value: unknown): void {
  const m = /^(\w+)(?:\.(\w+)|\[(\d)\])?$/.exec(field)!;
  if (m[2]) file.ServicePrincipalKey[m[2]] = value;
  else if (m[3]) (file[m[1]!] as unknown[])[Number(m[3])] = value;
  else file[m[1]!] = value;
}
const mistypedFields: fc.Arbitrary<Case> = fc.uniqueArray(
  fc.tuple(fc.constantFrom(...Object.keys(ACCEPTS)), anyJson).filter(([field, value]) => !ACCEPTS[field]!.includes(typeOf(value))),
  { minLength: 1, maxLength: 3, selector: ([field]) => field.replace(/[.[].*$/, '') },
).map((changes) => {
  const file = base();
  for (const [field, value] of changes) setAt(file, field, value);
  return { kind: 'mistyped fields' as const, label: changes.map(([f, v]) => `${f}=${typeOf(v)}`).join(','), text: toFileText(file), expect: { accept: false as const, fields: changes.map(([f]) => f), message: /must be|missing/ } };
});

/** A base64url string with one character changed at a position whose bits count (not the last). */
function flipped(value: string, at: number, to: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const i = at % (value.length - 1);
  const replacement = alphabet.replace(value[i]!, '')[to % 63]!;
  return value.slice(0, i) + replacement + value.slice(i + 1);
}
const ecJwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const brokenKeys: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(fc.constantFrom(...KEY_PARTS), fc.nat(), fc.nat()).map(([part, at, to]) => ({ label: `flip ${part}`, change: (k: Spk) => (k[part] = flipped(String(k[part]), at, to)) })),
  // (not e: both keys have e = AQAB)
  fc.constantFrom(...KEY_PARTS.filter((p) => p !== 'e')).map((part) => ({ label: `${part} of another key`, change: (k: Spk) => (k[part] = otherJwk()[part]) })),
  fc.tuple(fc.constantFrom(...KEY_PARTS), fc.constantFrom('+', '/', '=', ' ', '.', '%')).map(([part, ch]) => ({ label: `${part} not base64url`, change: (k: Spk) => (k[part] = `${String(k[part]).slice(0, 10)}${ch}${String(k[part]).slice(10)}`) })),
  fc.tuple(fc.constantFrom(...KEY_PARTS), fc.double({ min: 0.05, max: 0.9, noNaN: true })).map(([part, keep]) => ({ label: `${part} truncated`, change: (k: Spk) => (k[part] = String(k[part]).slice(0, Math.max(1, Math.floor(String(k[part]).length * keep)))) })),
  fc.constantFrom<[string, string]>(['p', 'q'], ['dp', 'dq'], ['d', 'qi']).map(([a, b]) => ({ label: `${a} and ${b} swapped`, change: (k: Spk) => ([k[a], k[b]] = [k[b], k[a]]) })),
  fc.constantFrom('EC', 'oct', 'rsa', 'RSA-HSM', '').map((kty) => ({ label: `kty ${kty}`, change: (k: Spk) => {
    k.kty = kty;
    if (kty === 'EC') Object.assign(k, { crv: ecJwk.crv, x: ecJwk.x, y: ecJwk.y, d: ecJwk.d });
  } })),
  fc.constantFrom('2020-01-01T00:00:00', '2025-05-31T23:59:59Z', '2025-06-01T13:59:00+02:00').map((exp) => ({ label: `expired ${exp}`, change: (k: Spk) => (k.exp = exp) })),
).map(({ label, change }) => {
  const file = base();
  change(file.ServicePrincipalKey);
  return { kind: 'broken keys' as const, label, text: toFileText(file), expect: { accept: false as const, fields: ['ServicePrincipalKey'] } };
});

const publicOnlyKeys: fc.Arbitrary<Case> = fc.oneof(
  fc.subarray([...PRIVATE_PARTS], { minLength: 1 }).map((parts) => ({ parts, asNull: false })),
  fc.subarray([...PRIVATE_PARTS], { minLength: 1 }).map((parts) => ({ parts, asNull: true })),
).map(({ parts, asNull }) => {
  const file = base();
  for (const p of parts) {
    if (asNull) file.ServicePrincipalKey[p] = p === 'd' ? '' : null;
    else delete file.ServicePrincipalKey[p];
  }
  return {
    kind: 'public-only keys' as const,
    label: `${asNull ? 'null' : 'no'} ${parts.join(',')}`,
    text: toFileText(file),
    expect: { accept: false as const, fields: parts.map((p) => `ServicePrincipalKey.${p}`), message: /^missing — the key must include its private parts$/ },
  };
});

/** Where a long string can go, with a value of the field's own characters (only its length is wrong). */
/** `chunk` repeated to exactly `n` characters. */
const cycle = (chunk: string, n: number): string => chunk.repeat(Math.ceil(n / chunk.length)).slice(0, n);
const HUGE_TARGETS: { field: string; limit: number; fill: (n: number) => unknown; set: (f: File, v: unknown) => void }[] = [
  { field: 'TenantId', limit: LIMITS.idLength, fill: (n) => cycle('a1-B.c_', n), set: (f, v) => (f.TenantId = v) },
  { field: 'ServicePrincipalId', limit: LIMITS.idLength, fill: (n) => '1'.repeat(n), set: (f, v) => (f.ServicePrincipalId = v) },
  { field: 'APIKey', limit: LIMITS.apiKeyLength, fill: (n) => cycle('k!#~Z', n), set: (f, v) => (f.APIKey = v) },
  { field: 'ServicePrincipalKey.kid', limit: LIMITS.keyIdLength, fill: (n) => `urn:service:t:${'S'.repeat(Math.max(0, n - 14))}`, set: (f, v) => (f.ServicePrincipalKey.kid = v) },
  { field: 'ServicePrincipalKey.d', limit: LIMITS.keyPartLength, fill: (n) => cycle('Ab-_', n), set: (f, v) => (f.ServicePrincipalKey.d = v) },
  { field: 'ServicePrincipalKey.x5t', limit: LIMITS.jwkExtraLength, fill: (n) => 'x'.repeat(n), set: (f, v) => (f.ServicePrincipalKey.x5t = v) },
  { field: 'ServicePrincipalKey.use', limit: LIMITS.jwkExtraLength, fill: (n) => 's'.repeat(n), set: (f, v) => (f.ServicePrincipalKey.use = v) },
  { field: 'ApiBaseAddresses[0]', limit: LIMITS.urlLength, fill: (n) => `https://api.example/${'p'.repeat(Math.max(0, n - 20))}`, set: (f, v) => (f.ApiBaseAddresses = [v]) },
  { field: 'CertificateThumbprints[0]', limit: LIMITS.thumbprintLength, fill: (n) => cycle('AB', n), set: (f, v) => (f.CertificateThumbprints = [v]) },
  { field: 'CaseServiceBaseAddresses', limit: LIMITS.urlsPerList, fill: (n) => Array.from({ length: n }, (_, i) => `https://case${i}.example`), set: (f, v) => (f.CaseServiceBaseAddresses = v) },
  { field: 'CertificateThumbprints', limit: LIMITS.thumbprints, fill: (n) => Array.from({ length: n }, () => 'AB'.repeat(20)), set: (f, v) => (f.CertificateThumbprints = v) },
  // No field limit: only the file's.
  { field: '(file)', limit: LIMITS.fileBytes, fill: (n) => 'n'.repeat(n), set: (f, v) => (f.Notes = v) },
];
const hugeStrings: fc.Arbitrary<Case> = fc.tuple(
  fc.nat(HUGE_TARGETS.length - 1),
  fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 2, arbitrary: fc.integer({ min: 65, max: 300_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1_048_577, max: 3_000_000 }) }),
).map(([t, over]) => {
  const target = HUGE_TARGETS[t]!;
  const length = target.field === '(file)' ? Math.max(over, 1_048_577) : target.limit + (target.limit <= 64 ? Math.min(over, 20_000) : over);
  const file = base();
  target.set(file, target.fill(length));
  const text = toFileText(file);
  const overFile = Buffer.byteLength(text) > LIMITS.fileBytes;
  return {
    kind: 'huge strings' as const,
    label: `${target.field} ${length}`,
    text,
    expect: overFile
      ? { accept: false as const, fields: ['(file)'], message: FILE_LIMIT_MESSAGE }
      : { accept: false as const, fields: [target.field], message: /^is too long \(at most \d+ characters(; found \d+)?\)$|^must hold at most \d+ (URLs|thumbprints)$/ },
  };
});

const GOOD_TEXT = toFileText(connectionFile());
const JSON_DEFECTS: [string, (t: string) => string][] = [
  ['trailing comma', (t) => t.replace(/\r\n}$/, ',\r\n}')],
  ['line comment', (t) => `// downloaded from Clearance\r\n${t}`],
  ['block comment', (t) => t.replace('"APIKey"', '/* key */ "APIKey"')],
  ['single quotes', (t) => t.replace('"TenantId": "tenant123"', "'TenantId': 'tenant123'")],
  ['unquoted name', (t) => t.replace('"TenantId"', 'TenantId')],
  ['True', (t) => t.replace('"DisableEncryption": false', '"DisableEncryption": False')],
  ['NaN', (t) => t.replace('"DisableEncryption": false', '"DisableEncryption": NaN')],
  ['hex number', (t) => t.replace('"DisableEncryption": false', '"DisableEncryption": 0x0')],
  ['missing colon', (t) => t.replace('"APIKey":', '"APIKey"')],
  ['missing comma', (t) => t.replace(',\r\n  "APIKey"', '\r\n  "APIKey"')],
  ['raw line break in a string', (t) => t.replace('"tenant123"', '"tenant\n123"')],
  ['bad escape', (t) => t.replace('"tenant123"', '"tenant\\x31"')],
  ['two documents', (t) => `${t}\r\n${t}`],
  ['unclosed', (t) => t.slice(0, -1)],
  ['XML', () => '<?xml version="1.0"?><Connection><TenantId>tenant123</TenantId></Connection>'],
  ['base64 of the file', (t) => Buffer.from(t).toString('base64')],
];
const notJson: fc.Arbitrary<Case> = fc.oneof(
  fc.string({ maxLength: 200 }).map((text) => ({ label: 'random text', text })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ label: 'random code points', text })),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ label: 'random bytes', text: Buffer.from(bytes).toString('utf8') })),
  fc.nat(GOOD_TEXT.length - 1).map((cut) => ({ label: `cut at ${cut}`, text: GOOD_TEXT.slice(0, cut) })),
  fc.constantFrom(...JSON_DEFECTS).map(([label, defect]) => ({ label, text: defect(GOOD_TEXT) })),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => typeOf(v) !== 'object').map((v) => ({ label: `JSON ${typeOf(v)}`, text: JSON.stringify(v) })),
  fc.constantFrom('', ' ', '\r\n', '\uFEFF', 'null', '""').map((text) => ({ label: `blank ${JSON.stringify(text)}`, text })),
).map(({ label, text }) => ({ kind: 'not JSON' as const, label, text, expect: expectFileLevel(text) }));

/** What a text that is not a connection file gives, decided independently (JSON.parse). */
function expectFileLevel(text: string): Expect {
  const head = text.charCodeAt(0) === 0xfeff ? text.slice(1, 9) : text.slice(0, 8);
  if (head.startsWith('\ufffd\ufffd') || head.includes('\u0000')) return { accept: false, fields: ['(file)'], message: /^is UTF-16 or UTF-32 text/ };
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    return { accept: false, fields: ['(file)'], message: /^not valid JSON at line \d+, column \d+: [a-z]/ };
  }
  // A generated text may happen to be a JSON object: then its fields are wrong, not the file.
  if (typeOf(value) === 'object') return { accept: false, fields: [] };
  return { accept: false, fields: ['(file)'], message: /^must be a JSON object with the connection fields; found / };
}

const byteOrderMarks: fc.Arbitrary<Case> = fc.constantFrom(
  { label: 'UTF-8 BOM', text: `\uFEFF${GOOD_TEXT}`, expect: { accept: true, same: 'account' } as Expect },
  { label: 'two UTF-8 BOMs', text: `\uFEFF\uFEFF${GOOD_TEXT}`, expect: { accept: false, fields: ['(file)'], message: /^not valid JSON at line 1, column 1/ } as Expect },
  { label: 'BOM inside', text: GOOD_TEXT.replace('\r\n  "APIKey"', '\r\n  \uFEFF"APIKey"'), expect: { accept: false, fields: ['(file)'], message: /^not valid JSON at line \d+, column \d+/ } as Expect },
  { label: 'UTF-8 BOM read as Latin-1', text: `\u00ef\u00bb\u00bf${GOOD_TEXT}`, expect: { accept: false, fields: ['(file)'], message: /^not valid JSON at line 1, column 1: unexpected character: expected a value$/ } as Expect },
  ...(['utf16le', 'utf16be', 'utf32le', 'utf32be'] as const).flatMap((encoding) => [true, false].map((bom) => ({
    label: `${encoding}${bom ? ' with BOM' : ''} read as UTF-8`,
    text: encode(`${bom ? '\uFEFF' : ''}${GOOD_TEXT}`, encoding).toString('utf8'),
    expect: { accept: false, fields: ['(file)'], message: /^is UTF-16 or UTF-32 text: a connection file is UTF-8 JSON/ } as Expect,
  }))),
).map((c) => ({ kind: 'byte-order marks' as const, ...c }));

function encode(text: string, encoding: 'utf16le' | 'utf16be' | 'utf32le' | 'utf32be'): Buffer {
  if (encoding === 'utf16le') return Buffer.from(text, 'utf16le');
  if (encoding === 'utf16be') return Buffer.from(text, 'utf16le').swap16();
  const out = Buffer.alloc(text.length * 4);
  [...text].forEach((ch, i) => (encoding === 'utf32le' ? out.writeUInt32LE(ch.codePointAt(0)!, i * 4) : out.writeUInt32BE(ch.codePointAt(0)!, i * 4)));
  return out;
}

const NEST_TARGETS = ['TenantId', 'ServicePrincipalId', 'APIKey', 'DisableEncryption', 'ApiBaseAddresses', 'CertificateThumbprints', 'ServicePrincipalKey', 'ServicePrincipalKey.n', 'ServicePrincipalKey.nbf'] as const;
const deepNesting: fc.Arbitrary<Case> = fc.tuple(
  fc.oneof(fc.integer({ min: 2, max: 1000 }), fc.integer({ min: 1000, max: 400_000 })),
  fc.constantFrom('array', 'object'),
  fc.constantFrom('field', 'whole file', 'unclosed', 'unknown field'),
  fc.constantFrom(...NEST_TARGETS),
).map(([depth, shape, where, target]) => {
  const open = shape === 'array' ? '[' : '{"a":';
  const close = shape === 'array' ? ']' : '}';
  const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
  let text: string;
  let expect: Expect;
  if (where === 'whole file') {
    text = `${open.repeat(depth)}${GOOD_TEXT}${close.repeat(depth)}`;
    expect = { accept: false, fields: ['(file)'], message: /^must be a JSON object|^not valid JSON/ };
    // {"a": {"a": … file}}: an object, but one that lacks every field.
    if (shape === 'object') expect = { accept: false, fields: ['TenantId', 'ServicePrincipalKey'], message: /^missing$/ };
  } else if (where === 'unclosed') {
    text = `${GOOD_TEXT.slice(0, -1)}, "Deep": ${open.repeat(depth)}`;
    expect = { accept: false, fields: ['(file)'], message: /^not valid JSON at line \d+, column \d+: (unexpected end of file|nested too deeply)/ };
  } else if (where === 'unknown field') {
    text = withRawMember(GOOD_TEXT, 'Deep', nested);
    expect = { accept: true, same: 'account' };
  } else {
    const placeholder = '"@@NESTED@@"';
    const file = base();
    setAt(file, target, '@@NESTED@@');
    text = toFileText(file).replace(placeholder, () => nested);
    expect = { accept: false, fields: [target] };
  }
  if (Buffer.byteLength(text) > LIMITS.fileBytes) expect = { accept: false, fields: ['(file)'], message: FILE_LIMIT_MESSAGE };
  return { kind: 'deep nesting' as const, label: `${where} ${target} ${shape} ${depth}`, text, expect };
});

const TRAVERSAL = ['../', '..\\', '../../etc/passwd', '..', '%2e%2e/', '/etc/shadow', 'C:\\Windows\\System32'];
const MARKUP = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'-alert(1)-'", '<svg/onload=alert(1)>', '&lt;b&gt;'];
const CONTROL = ['\u0000', '\r\nX-Injected: 1', '\u001b[31m', '\u0007', '\u007f', '\u202e', '\u200b', '\u2028', '\ufeff'];
const hostile = (list: string[]) => fc.constantFrom(...list);
const idPiece = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,10}$/);
/** [field, value, what must not be echoed]; every value must be refused for that field. */
const hostileStrings: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(fc.constantFrom('TenantId', 'ServicePrincipalId'), idPiece, hostile([...TRAVERSAL, ...MARKUP, ...CONTROL, 'tenant@evil', ' tenant']), fc.boolean())
    // `a..` is a plain id (no dot segment): `..` goes first.
    .map(([field, piece, bad, before]) => ({ field, value: before || bad === '..' ? `${bad}${piece}` : `${piece}${bad}`, bad })),
  // Inside a URL path: dot segments, backslashes, characters RFC 3986 does not allow unencoded.
  // (`'-alert(1)-'` and `&lt;` are legal URL characters: the URL parser encodes nothing there.)
  fc.tuple(listField, hostile([...TRAVERSAL.filter((t) => t !== '/etc/shadow'), ...MARKUP.filter((m) => /[<>"]/.test(m)), ...CONTROL, 'a b', '{x}', '|', '^', '`']))
    .map(([list, bad]) => ({ field: `${list}[0]`, value: `https://svc.example/api/${bad}/v1`, bad, list })),
  fc.tuple(listField, hostile(['javascript:alert(1)', 'file:///etc/passwd', 'data:text/html,<script>alert(1)</script>', 'http://169.254.169.254/latest/meta-data', 'https://user:pw@svc.example', 'https://svc.example/?next=../admin', '//svc.example/api', 'https:\\\\svc.example\\api']))
    .map(([list, value]) => ({ field: `${list}[0]`, value, bad: value, list })),
  fc.tuple(hostile([...MARKUP.filter((m) => /[<>"'`&]/.test(m)), ...CONTROL])).map(([bad]) => ({ field: 'ServicePrincipalKey.kid', value: `urn:service:tenant123:Site${bad}A:151`, bad })),
  fc.tuple(hostile([...TRAVERSAL, ...MARKUP, ...CONTROL])).map(([bad]) => ({ field: 'CertificateThumbprints[0]', value: `3F2A9C1E${bad}5B7D`, bad })),
  fc.tuple(hostile([...CONTROL, ' ', 'é', '\u00a0'])).map(([bad]) => ({ field: 'APIKey', value: `apikey-${bad}-7f3a`, bad })),
  fc.tuple(hostile([...CONTROL, 'é'])).map(([bad]) => ({ field: 'ServicePrincipalKey.use', value: `sig${bad}`, bad })),
  fc.tuple(hostile([...MARKUP, ...CONTROL])).map(([bad]) => ({ field: 'ServicePrincipalKey.nbf', value: `2024-01-01T00:00:00${bad}`, bad })),
).map(({ field, value, bad, ...rest }) => {
  const file = base();
  const list = (rest as { list?: string }).list;
  if (list) file[list] = [value];
  else setAt(file, field, value);
  return { kind: 'hostile strings' as const, label: `${field} ${JSON.stringify(bad)}`, text: toFileText(file), expect: { accept: false as const, fields: [field], echo: [bad] } };
});

const validVariations: fc.Arbitrary<Case> = fc.tuple(
  seedArb,
  fc.record({ whitespace: fc.boolean(), shuffle: fc.boolean(), escapes: fc.boolean() }),
  fc.boolean(), // BOM
  fc.subarray([...OPTIONAL_LISTS]), // optional lists left out
  fc.constantFrom('keep', 'null', 'absent'), // the .NET extras
  fc.boolean(), // trailing slashes on the URLs
  fc.constantFrom('keep', 'min-date', 'window'),
).map(([seed, layout, bom, dropped, extras, slashes, dates]) => {
  const file = base();
  for (const list of dropped) delete file[list];
  const key = file.ServicePrincipalKey;
  for (const x of ['k', 'use', 'x5t', 'nbf', 'exp']) {
    if (extras === 'null') key[x] = null;
    if (extras === 'absent') delete key[x];
  }
  if (dates === 'window') Object.assign(key, { nbf: '2024-01-01T00:00:00.1234567Z', exp: '2030-01-01T00:00:00+02:00' });
  if (!slashes) for (const list of BASE_ADDRESS_KEYS) if (Array.isArray(file[list])) file[list] = (file[list] as string[]).map((u) => u.replace(/\/+$/, ''));
  const text = `${bom ? '\uFEFF' : ''}${serialize(file, seed, layout)}`;
  return {
    kind: 'valid variations' as const,
    label: `${JSON.stringify(layout)} bom=${bom} dropped=${dropped.length} extras=${extras} dates=${dates}`,
    text,
    expect: { accept: true as const, same: dropped.length > 0 ? ('identity' as const) : ('account' as const) },
  };
});

const GENERATORS: Record<Kind, fc.Arbitrary<Case>> = {
  'missing fields': missingFields, 'extra fields': extraFields, 'mistyped fields': mistypedFields, 'broken keys': brokenKeys,
  'public-only keys': publicOnlyKeys, 'huge strings': hugeStrings, 'not JSON': notJson, 'byte-order marks': byteOrderMarks,
  'deep nesting': deepNesting, 'hostile strings': hostileStrings, 'valid variations': validVariations,
};

// ---- the checks ---------------------------------------------------------------------------

const SECRET_FRAGMENTS = [...secretValues(testJwk()), ...secretValues(otherJwk() as JsonWebKey)].flatMap((s) => {
  const out: string[] = [];
  for (let i = 0; i + 16 <= s.length; i += 16) out.push(s.slice(i, i + 16));
  return out;
});

function names(issue: FieldIssue, field: string): boolean {
  return issue.field === field || issue.field.startsWith(`${field}.`) || issue.field.startsWith(`${field}[`);
}

function identity(a: AccountInfo): Partial<AccountInfo> {
  return { accountId: a.accountId, clientId: a.clientId, keyId: a.keyId, publicKeyFingerprint: a.publicKeyFingerprint, integrationName: a.integrationName, disableEncryption: a.disableEncryption };
}

function checkRefusal(c: Case, errors: FieldIssue[], warnings: FieldIssue[]): void {
  const expect = c.expect as Extract<Expect, { accept: false }>;
  const where = `${c.kind} / ${c.label}`;
  assert.ok(errors.length > 0, `${where}: refused without an error`);
  for (const issue of [...errors, ...warnings]) {
    // Plain FieldIssues: a field path and a sentence, nothing else (no stack, no zod wording).
    assert.deepEqual(Object.keys(issue).sort(), ['field', 'message'], where);
    assert.equal(typeof issue.field, 'string', where);
    assert.ok(typeof issue.message === 'string' && issue.message.length > 0 && issue.message.length < 400, `${where}: message ${issue.message.slice(0, 100)}`);
    assert.ok(issue.field.length <= 80, `${where}: a field name of ${issue.field.length} characters`);
    assert.doesNotMatch(issue.message, /Invalid input|expected string, received|\[object Object\]|undefined/, `${where}: ${issue.message}`);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(`${issue.field} ${issue.message}`, /[\u0000-\u001f\u007f\u202e\u200b\u2028]|<script|<img|<svg/, `${where}: hostile text echoed in ${issue.field}: ${issue.message}`);
    for (const bad of expect.echo ?? []) {
      if (bad.length >= 3 && !/^[\w.:/ -]+$/.test(bad)) assert.ok(!issue.message.includes(bad), `${where}: echoes ${JSON.stringify(bad)}`);
    }
  }
  const all = JSON.stringify({ errors, warnings });
  assert.ok(all.length < 8000, `${where}: ${all.length} characters of messages`);
  for (const fragment of SECRET_FRAGMENTS) assert.ok(!all.includes(fragment), `${where}: a secret fragment leaked`);
  for (const field of expect.fields) {
    const issue = errors.find((e) => names(e, field));
    assert.ok(issue, `${where}: no error names ${field}; got ${JSON.stringify(errors).slice(0, 500)}`);
    if (expect.message) {
      const matching = errors.filter((e) => names(e, field));
      assert.ok(matching.some((e) => expect.message!.test(e.message)), `${where}: ${field}: ${JSON.stringify(matching)} does not match ${expect.message}`);
    }
  }
}

describe('connection file import, property-based (fast-check)', function () {
  this.timeout(120_000);
  const counts = new Map<Kind, { cases: number; accepted: number; refused: number; imported: number }>();
  let dir: string;
  let journal: JournalStore;
  let store: AccountStore;
  let freshJournal: JournalStore;
  let fresh: AccountStore;
  let stateFile: string;
  let secretFile: string;
  let stateBefore: string;
  let secretsBefore: string;
  const started = Date.now();

  const openStore = (sub: string): { journal: JournalStore; store: AccountStore } => {
    const j = new JournalStore({ path: path.join(dir, sub, 'state', 'state.jsonl') });
    return { journal: j, store: new AccountStore({ state: new Keyv({ store: j, namespace: 'clearance' }), secrets: new FileSecretStore(path.join(dir, sub, 'secrets', 'secrets.json')), now: () => NOW }) };
  };

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-fc-'));
    ({ journal, store } = openStore('current'));
    ({ journal: freshJournal, store: fresh } = openStore('fresh'));
    stateFile = path.join(dir, 'current', 'state', 'state.jsonl');
    secretFile = path.join(dir, 'current', 'secrets', 'secrets.json');
    // The account every refused file must leave alone.
    const a = await store.importConnectionFile(toFileText(connectionFile({ tenant: 'tenantA', name: 'SiteA', jwk: otherJwk() })), 'SiteA.json');
    assert.ok(a.ok);
    stateBefore = await fs.readFile(stateFile, 'utf8');
    secretsBefore = await fs.readFile(secretFile, 'utf8');
    console.log(`      fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);
  });

  after(async () => {
    store?.dispose();
    fresh?.dispose();
    await journal?.disconnect();
    await freshJournal?.disconnect();
    await fs.rm(dir, { recursive: true, force: true });
    const total = [...counts.values()].reduce((n, c) => n + c.cases, 0);
    const perKind = KINDS.map((k) => {
      const c = counts.get(k);
      return c ? `${k} ${c.cases} (${c.refused} refused, ${c.accepted} accepted, ${c.imported} through the store)` : `${k} 0`;
    });
    console.log(`      connection-file properties: seed ${SEED}, ${total} cases in ${((Date.now() - started) / 1000).toFixed(1)} s: ${perKind.join('; ')}`);
    // For docs/reliability.md (scripts/test-faults.mjs): the counts per kind.
    const report = process.env.CLEARANCE_FAULTS_REPORT;
    if (report) appendFileSync(report, `${JSON.stringify({ kind: 'connectionFileProperties', seed: SEED, total, perKind: Object.fromEntries(counts) })}\n`);
  });

  for (const [index, kind] of KINDS.entries()) {
    it(`${kind}: ${kind === 'valid variations' || kind === 'extra fields' ? 'accepted as the same account' : 'refused with an error naming the field or the file; the current account untouched'}`, async () => {
      const count = { cases: 0, accepted: 0, refused: 0, imported: 0 };
      counts.set(kind, count);
      await fc.assert(
        fc.asyncProperty(GENERATORS[kind], async (c) => {
          count.cases++;
          const t0 = Date.now();
          let result: ReturnType<typeof parseConnectionFile>;
          try {
            result = parseConnectionFile(c.text, `${c.kind}.json`, { now: NOW });
          } catch (error) {
            assert.fail(`${c.kind} / ${c.label}: parseConnectionFile threw ${String(error)}`);
          }
          assert.ok(Date.now() - t0 < 3000, `${c.kind} / ${c.label}: ${Date.now() - t0} ms`);
          if (c.expect.accept) {
            assert.ok(result.ok, `${c.kind} / ${c.label}: refused ${JSON.stringify(!result.ok && result.errors)}`);
            count.accepted++;
            const { importedAt: _i, source: _s, ...account } = result.account;
            const { importedAt: _ci, source: _cs, ...expected } = canonical;
            if (c.expect.same === 'account') assert.deepEqual(account, expected, c.label);
            else assert.deepEqual(identity(result.account), identity(canonical), c.label);
            for (const w of result.warnings) assert.ok(w.field.length <= 80 && w.message.length < 400, `${c.label}: warning ${w.field.slice(0, 80)}`);
            // Every fifth through a real store on disk: it becomes the account there.
            if (count.accepted % 5 === 1) {
              const imported = await fresh.importConnectionFile(c.text, 'SiteA.json');
              assert.ok(imported.ok, c.label);
              assert.equal((await fresh.current())?.accountId, canonical.accountId);
              assert.equal((await fresh.signingCredentials()).ServicePrincipalKey.d, testJwk().d);
              await fresh.disconnect();
              count.imported++;
            }
            return;
          }
          assert.equal(result.ok, false, `${c.kind} / ${c.label}: accepted`);
          if (result.ok) return;
          count.refused++;
          checkRefusal(c, result.errors, result.warnings);
          // Through the real store: the same refusal, and the connected account stays.
          const imported = await store.importConnectionFile(c.text, `${c.kind}.json`);
          assert.equal(imported.ok, false);
          assert.deepEqual(!imported.ok && imported.errors, result.errors);
          count.imported++;
          assert.equal((await store.current())?.accountId, 'tenantA');
          if (count.refused % 10 === 1) {
            assert.equal(readFileSync(stateFile, 'utf8'), stateBefore, 'state file unchanged');
            assert.equal(readFileSync(secretFile, 'utf8'), secretsBefore, 'secret file unchanged');
          }
        }),
        { seed: SEED + index, numRuns: RUNS[kind], endOnFailure: true },
      );
      assert.equal(readFileSync(stateFile, 'utf8'), stateBefore, 'state file unchanged');
      assert.equal(readFileSync(secretFile, 'utf8'), secretsBefore, 'secret file unchanged');
      assert.equal((await store.signingCredentials()).ServicePrincipalKey.d, otherJwk().d, 'the current account still signs with its own key');
    });
  }
});
