// The plugin role's properties (docs/clearance-api.md §1.1) and their validation. The proxy
// password is not a property: it is a secret and lives in a SecretStore.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { z } from 'zod';
import type { RoleProxy } from '../net/proxy';
import { isPlainObject, type FieldIssue } from './fieldErrors';
import { fieldIssues, mustBe, problem, shown } from './schema';
import type { SecretStore } from './secretStore';

export interface ProxySettings {
  enabled: boolean;
  /** IPv4 address or host name, without scheme or port. */
  host: string;
  port: number;
  /** Optional; the password is kept in secret storage (see PROXY_PASSWORD_SECRET_KEY). */
  username: string;
}

export interface RoleProperties {
  pollingIntervalSeconds: number;
  /** Absolute folder where exported video waits while it uploads. */
  archiveDestinationFolder: string;
  proxy: ProxySettings;
  /** On: one upload at a time, capped at maximumBandwidthMbps. Off: up to five at once. */
  throttlingEnabled: boolean;
  maximumBandwidthMbps: number;
}

/** SecretStore key of the proxy password. */
export const PROXY_PASSWORD_SECRET_KEY = 'clearance.proxy.password';

export const ROLE_PROPERTY_LIMITS = {
  pollingIntervalSeconds: { min: 5, max: 3600 },
  maximumBandwidthMbps: { min: 0.1, max: 10000 },
  proxyPort: { min: 1, max: 65535 },
} as const;

export const DEFAULT_ROLE_PROPERTIES: Omit<RoleProperties, 'archiveDestinationFolder'> = {
  pollingIntervalSeconds: 30,
  proxy: { enabled: false, host: '', port: 8080, username: '' },
  throttlingEnabled: true,
  maximumBandwidthMbps: 10,
};

export type RolePropertiesResult =
  | { ok: true; value: RoleProperties; errors: []; warnings: FieldIssue[] }
  | { ok: false; errors: FieldIssue[]; warnings: FieldIssue[] };

export interface ValidateRolePropertiesOptions {
  /** Used when archiveDestinationFolder is missing or empty (e.g. the extension's storage). */
  defaultArchiveFolder?: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

const bool = z.boolean(mustBe('true or false'));

/** A number in `limits`; `whole`: a whole number. One message per field, the first that applies. */
function numberIn({ min, max }: { min: number; max: number }, unit: string, wrongType: (value: unknown) => string, whole: boolean) {
  return z.number({ error: (issue) => wrongType(issue.input) }).superRefine(problem((value) => {
    if (whole && !Number.isInteger(value)) return wrongType(value);
    return value < min || value > max ? `must be between ${min} and ${max}${unit && ` ${unit}`}; found ${value}` : undefined;
  }));
}

const wholeNumber = (limits: { min: number; max: number }, unit = '') =>
  numberIn(limits, unit, (value) => `must be a whole number${unit && ` of ${unit}`}; found ${shown(value)}`, true);

/** Why `folder` cannot be the archive folder; undefined when it can (or is empty: the default). */
function archiveFolderProblem(folder: string): string | undefined {
  if (folder === '') return undefined;
  if (folder.includes('\0')) return 'must not contain a NUL character';
  if (!path.isAbsolute(folder.trim())) return `must be an absolute path; found "${folder}"`;
  return undefined;
}

/** Why `username` cannot be the proxy user name; undefined when it can. */
function proxyUsernameProblem(username: string): string | undefined {
  if (CONTROL_CHARS.test(username)) return 'must not contain control characters';
  if (username.includes(':')) return "must not contain ':' (basic authentication cannot carry it)";
  if (username.length > 256) return 'is too long (at most 256 characters)';
  return undefined;
}

/** The proxy settings; a missing field takes its default. */
export const proxySettingsSchema = z
  .object({
    // Never let a password travel with the properties: they end up in plain settings.
    password: z.never({ error: 'must not be part of the role properties; it is stored as a secret' }).optional(),
    enabled: bool.default(DEFAULT_ROLE_PROPERTIES.proxy.enabled),
    port: wholeNumber(ROLE_PROPERTY_LIMITS.proxyPort).default(DEFAULT_ROLE_PROPERTIES.proxy.port),
    host: z.string(mustBe('a string')).trim().superRefine(problem((host) => (host === '' ? undefined : proxyHostProblem(host))))
      .default(DEFAULT_ROLE_PROPERTIES.proxy.host),
    username: z.string(mustBe('a string')).superRefine(problem(proxyUsernameProblem)).default(DEFAULT_ROLE_PROPERTIES.proxy.username),
  }, mustBe('an object'))
  .superRefine(({ enabled, host }, ctx) => {
    // Also when other fields are wrong (the values are then as given, and are checked as such).
    if (enabled === true && (typeof host !== 'string' || host === '')) {
      ctx.addIssue({ code: 'custom', message: 'required when the proxy is on', path: ['host'] });
    }
  }, { when: (payload) => isPlainObject(payload.value) });

/**
 * The role properties, every field checked (all problems at once, in field order); a
 * missing field takes its default, except the archive folder. validateRoleProperties()
 * adds the warnings and the default archive folder.
 */
export const rolePropertiesSchema = z.object({
  pollingIntervalSeconds: wholeNumber(ROLE_PROPERTY_LIMITS.pollingIntervalSeconds, 'seconds').default(DEFAULT_ROLE_PROPERTIES.pollingIntervalSeconds),
  throttlingEnabled: bool.default(DEFAULT_ROLE_PROPERTIES.throttlingEnabled),
  maximumBandwidthMbps: numberIn(ROLE_PROPERTY_LIMITS.maximumBandwidthMbps, 'Mbps',
    (value) => `must be a number of megabits per second; found ${shown(value)}`, false).default(DEFAULT_ROLE_PROPERTIES.maximumBandwidthMbps),
  archiveDestinationFolder: z.string(mustBe('a folder path')).superRefine(problem(archiveFolderProblem)).optional()
    .transform((folder, ctx) => {
      if (folder) return path.resolve(folder.trim());
      ctx.addIssue({ code: 'custom', message: 'required: an absolute folder path', input: folder });
      return z.NEVER;
    }),
  proxy: proxySettingsSchema.default(() => ({ ...DEFAULT_ROLE_PROPERTIES.proxy })),
}, mustBe('an object'));

const KNOWN_KEYS = new Set(Object.keys(rolePropertiesSchema.shape));
const PROXY_KEYS = new Set(Object.keys(proxySettingsSchema.shape));
/** The order of the messages: the fields' order, `proxy.host` with its own "required when the proxy is on". */
const FIELD_ORDER = [...KNOWN_KEYS].flatMap((key) => (key === 'proxy' ? [key, ...[...PROXY_KEYS].map((k) => `proxy.${k}`)] : [key]));

/**
 * Checks every field and reports all problems at once (not just the first). Missing
 * fields take their defaults; a present field of the wrong type or out of range is an
 * error. Disk checks of the archive folder are separate: see prepareArchiveFolder().
 */
export function validateRoleProperties(input: unknown, options: ValidateRolePropertiesOptions = {}): RolePropertiesResult {
  const fallback = options.defaultArchiveFolder;
  const noFolder = isPlainObject(input) && (input.archiveDestinationFolder === undefined || input.archiveDestinationFolder === '');
  const result = rolePropertiesSchema.safeParse(noFolder && fallback ? { ...input, archiveDestinationFolder: path.resolve(fallback) } : input);
  const errors = result.success ? [] : fieldIssues(result.error, '(properties)', FIELD_ORDER);
  const warnings = isPlainObject(input) ? propertyWarnings(input, errors) : [];
  if (!result.success) return { ok: false, errors, warnings };
  // Built field by field: the order RoleProperties has always been stored in, and no `password`.
  const { pollingIntervalSeconds, archiveDestinationFolder, proxy: { enabled, host, port, username }, throttlingEnabled, maximumBandwidthMbps } = result.data;
  const value = { pollingIntervalSeconds, archiveDestinationFolder, proxy: { enabled, host, port, username }, throttlingEnabled, maximumBandwidthMbps };
  return { ok: true, value, errors: [], warnings };
}

/** The warnings of the properties, also when some fields are wrong (they then say nothing of those). */
function propertyWarnings(input: Record<string, unknown>, errors: readonly FieldIssue[]): FieldIssue[] {
  const warnings: FieldIssue[] = [];
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) warnings.push({ field: key, message: 'not a role property; ignored' });
  }
  const proxy = input.proxy;
  if (!isPlainObject(proxy)) return warnings;
  for (const key of Object.keys(proxy)) {
    if (!PROXY_KEYS.has(key)) warnings.push({ field: `proxy.${key}`, message: 'not a proxy setting; ignored' });
  }
  if (errors.some((issue) => issue.field === 'proxy' || issue.field.startsWith('proxy.'))) return warnings;
  if (proxy.enabled !== true && typeof proxy.host === 'string' && proxy.host.trim() !== '') {
    warnings.push({ field: 'proxy.enabled', message: 'a proxy host is set but the proxy is off' });
  }
  // The vendor role turns the bandwidth cap off while a proxy is used; we keep the cap
  // on (a shared token bucket works the same through a proxy) and say so.
  if (proxy.enabled === true && input.throttlingEnabled !== false) {
    warnings.push({
      field: 'maximumBandwidthMbps',
      message: 'unlike the vendor role, the bandwidth cap still applies while the proxy is used',
    });
  }
  return warnings;
}

/** Why `password` cannot be the proxy password; undefined when it can. */
export function proxyPasswordProblem(password: string): string | undefined {
  if (CONTROL_CHARS.test(password)) return 'must not contain control characters';
  if (password.length > 1024) return 'is too long (at most 1024 characters)';
  return undefined;
}

/**
 * Keeps the proxy password in the SecretStore (never in the properties); an empty one is
 * removed. Answers the problem (field `proxy.password`) instead of storing a bad one.
 */
export async function saveProxyPassword(secrets: SecretStore, password: string | undefined): Promise<FieldIssue[]> {
  if (password === undefined || password === '') {
    await secrets.delete(PROXY_PASSWORD_SECRET_KEY);
    return [];
  }
  const problem = proxyPasswordProblem(password);
  if (problem) return [{ field: 'proxy.password', message: problem }];
  await secrets.store(PROXY_PASSWORD_SECRET_KEY, password);
  return [];
}

/** The role's proxy as HttpClient takes it: the properties plus the password from the SecretStore. */
export async function roleProxyOf(settings: ProxySettings, secrets: SecretStore): Promise<RoleProxy> {
  const proxy: RoleProxy = { enabled: settings.enabled, host: settings.host, port: settings.port, username: settings.username };
  if (settings.enabled && settings.username) {
    const password = await secrets.get(PROXY_PASSWORD_SECRET_KEY);
    if (password !== undefined) proxy.password = password;
  }
  return proxy;
}

/** Why `host` is not an IPv4 address or host name; undefined when it is one. */
export function proxyHostProblem(host: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) return 'enter the host name or IPv4 address only, without "http://"';
  if (/^[^:]+:\d+$/.test(host)) return 'enter the port in the port field, not after the host';
  if (net.isIPv6(host) || net.isIPv6(host.replace(/^\[|\]$/g, ''))) return 'must be an IPv4 address or a host name (IPv6 is not supported)';
  if (/^[\d.]+$/.test(host)) {
    return net.isIPv4(host) ? undefined : 'is not a valid IPv4 address (four numbers 0–255 separated by dots)';
  }
  if (host.length > 253) return 'is too long for a host name (at most 253 characters)';
  const labels = host.replace(/\.$/, '').split('.');
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
  if (!labels.every((l) => label.test(l))) {
    return 'must be an IPv4 address or a host name (letters, digits, hyphens and dots; no spaces)';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------

export interface ArchiveFolderResult {
  ok: boolean;
  folder: string;
  created: boolean;
  freeBytes?: number;
  errors: FieldIssue[];
  warnings: FieldIssue[];
}

export interface PrepareArchiveFolderOptions {
  /** Warn when less than this is free (default 2 GiB: about an hour of several cameras). */
  lowSpaceBytes?: number;
}

const FIELD = 'archiveDestinationFolder';

/**
 * Creates the archive folder if missing and proves it is writable with a real write
 * (permission bits say nothing for root, ACLs or read-only mounts); warns on low space.
 */
export async function prepareArchiveFolder(folder: string, options: PrepareArchiveFolderOptions = {}): Promise<ArchiveFolderResult> {
  const lowSpaceBytes = options.lowSpaceBytes ?? 2 * 1024 ** 3;
  const result: ArchiveFolderResult = { ok: false, folder, created: false, errors: [], warnings: [] };
  const fail = (message: string): ArchiveFolderResult => {
    result.errors.push({ field: FIELD, message });
    return result;
  };
  if (!path.isAbsolute(folder)) return fail(`must be an absolute path; found "${folder}"`);
  result.folder = folder = path.resolve(folder);

  try {
    result.created = await mkdirEachLevel(folder);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOTDIR' || code === 'EEXIST') return fail(`cannot be created at ${folder}: a part of this path is a file, not a folder`);
    if (code === 'EACCES' || code === 'EPERM') return fail(`cannot be created at ${folder}: permission denied`);
    if (code === 'EROFS') return fail(`cannot be created at ${folder}: the file system is read-only`);
    return fail(`cannot be created at ${folder} (${code ?? 'unknown error'})`);
  }
  let stat;
  try {
    stat = await fs.stat(folder);
  } catch (error) {
    return fail(`cannot be read at ${folder} (${errnoCode(error) ?? 'unknown error'})`);
  }
  if (!stat.isDirectory()) return fail(`${folder} is a file, not a folder`);

  const probe = path.join(folder, `.clearance-write-test-${randomBytes(6).toString('hex')}`);
  try {
    const handle = await fs.open(probe, 'wx', 0o600);
    try {
      await handle.writeFile('clearance write test\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await fs.rm(probe, { force: true }).catch(() => undefined);
    const code = errnoCode(error);
    if (code === 'EACCES' || code === 'EPERM') return fail(`${folder} is not writable: permission denied`);
    if (code === 'EROFS') return fail(`${folder} is not writable: the file system is read-only`);
    if (code === 'ENOSPC') return fail(`${folder} is not writable: the disk is full`);
    return fail(`${folder} is not writable (${code ?? 'unknown error'})`);
  }
  await fs.rm(probe, { force: true });

  try {
    const fsStat = await fs.statfs(folder);
    result.freeBytes = Number(fsStat.bavail) * Number(fsStat.bsize);
    if (result.freeBytes < lowSpaceBytes) {
      result.warnings.push({
        field: FIELD,
        message: `only ${formatBytes(result.freeBytes)} free at ${folder}; exports wait here while they upload`,
      });
    }
  } catch {
    result.warnings.push({ field: FIELD, message: `could not read the free space at ${folder}` });
  }
  result.ok = true;
  return result;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function errnoCode(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * mkdir -p, one level at a time: Node 20's recursive mkdir never returns on some
 * read-only file systems (/proc), and an operator's typo must fail, not hang.
 */
async function mkdirEachLevel(folder: string): Promise<boolean> {
  const missing: string[] = [];
  for (let at = folder; ; at = path.dirname(at)) {
    try {
      await fs.stat(at);
      break;
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' || path.dirname(at) === at) throw error;
      missing.unshift(at);
    }
  }
  for (const level of missing) {
    try {
      await fs.mkdir(level);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
  }
  return missing.length > 0;
}
