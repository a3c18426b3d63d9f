// The plugin role's properties (CLEARANCE-API.md §1) and their validation. The proxy
// password is not a property: it is a secret and lives in a SecretStore.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { RoleProxy } from '../net/proxy';
import { describeType, isPlainObject, type FieldIssue } from './fieldErrors';
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

const KNOWN_KEYS = new Set(['pollingIntervalSeconds', 'archiveDestinationFolder', 'proxy', 'throttlingEnabled', 'maximumBandwidthMbps']);
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const KNOWN_PROXY_KEYS = new Set(['enabled', 'host', 'port', 'username']);

/**
 * Checks every field and reports all problems at once (not just the first). Missing
 * fields take their defaults; a present field of the wrong type or out of range is an
 * error. Disk checks of the archive folder are separate: see prepareArchiveFolder().
 */
export function validateRoleProperties(input: unknown, options: ValidateRolePropertiesOptions = {}): RolePropertiesResult {
  const errors: FieldIssue[] = [];
  const warnings: FieldIssue[] = [];
  if (!isPlainObject(input)) {
    return { ok: false, errors: [{ field: '(properties)', message: `must be an object; found ${describeType(input)}` }], warnings };
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) warnings.push({ field: key, message: 'not a role property; ignored' });
  }

  const pollingIntervalSeconds = wholeNumber(input, 'pollingIntervalSeconds', DEFAULT_ROLE_PROPERTIES.pollingIntervalSeconds,
    ROLE_PROPERTY_LIMITS.pollingIntervalSeconds, 'seconds', errors);
  const throttlingEnabled = bool(input, 'throttlingEnabled', DEFAULT_ROLE_PROPERTIES.throttlingEnabled, errors);

  let maximumBandwidthMbps = DEFAULT_ROLE_PROPERTIES.maximumBandwidthMbps;
  const bw = input.maximumBandwidthMbps;
  if (bw !== undefined) {
    const { min, max } = ROLE_PROPERTY_LIMITS.maximumBandwidthMbps;
    if (typeof bw !== 'number' || !Number.isFinite(bw)) {
      errors.push({ field: 'maximumBandwidthMbps', message: `must be a number of megabits per second; found ${typeof bw === 'number' ? bw : describeType(bw)}` });
    } else if (bw < min || bw > max) {
      errors.push({ field: 'maximumBandwidthMbps', message: `must be between ${min} and ${max} Mbps; found ${bw}` });
    } else maximumBandwidthMbps = bw;
  }

  let archiveDestinationFolder = '';
  const folder = input.archiveDestinationFolder;
  if (folder === undefined || folder === '') {
    if (options.defaultArchiveFolder) archiveDestinationFolder = path.resolve(options.defaultArchiveFolder);
    else errors.push({ field: 'archiveDestinationFolder', message: 'required: an absolute folder path' });
  } else if (typeof folder !== 'string') {
    errors.push({ field: 'archiveDestinationFolder', message: `must be a folder path; found ${describeType(folder)}` });
  } else if (folder.includes('\0')) {
    errors.push({ field: 'archiveDestinationFolder', message: 'must not contain a NUL character' });
  } else if (!path.isAbsolute(folder.trim())) {
    errors.push({ field: 'archiveDestinationFolder', message: `must be an absolute path; found "${folder}"` });
  } else archiveDestinationFolder = path.resolve(folder.trim());

  const proxy = validateProxy(input.proxy, errors, warnings);

  // The vendor role turns the bandwidth cap off while a proxy is used; we keep the cap
  // on (a shared token bucket works the same through a proxy) and say so.
  if (proxy?.enabled && throttlingEnabled) {
    warnings.push({
      field: 'maximumBandwidthMbps',
      message: 'unlike the vendor role, the bandwidth cap still applies while the proxy is used',
    });
  }

  if (errors.length > 0 || !proxy) return { ok: false, errors, warnings };
  return {
    ok: true,
    value: { pollingIntervalSeconds, archiveDestinationFolder, proxy, throttlingEnabled, maximumBandwidthMbps },
    errors: [],
    warnings,
  };
}

function validateProxy(input: unknown, errors: FieldIssue[], warnings: FieldIssue[]): ProxySettings | undefined {
  const defaults = DEFAULT_ROLE_PROPERTIES.proxy;
  if (input === undefined) return { ...defaults };
  if (!isPlainObject(input)) {
    errors.push({ field: 'proxy', message: `must be an object; found ${describeType(input)}` });
    return undefined;
  }
  const before = errors.length;
  if ('password' in input) {
    // Never let a password travel with the properties: they end up in plain settings.
    errors.push({ field: 'proxy.password', message: 'must not be part of the role properties; it is stored as a secret' });
  }
  for (const key of Object.keys(input)) {
    if (!KNOWN_PROXY_KEYS.has(key) && key !== 'password') warnings.push({ field: `proxy.${key}`, message: 'not a proxy setting; ignored' });
  }
  const enabled = bool(input, 'enabled', defaults.enabled, errors, 'proxy.enabled');
  const port = wholeNumber(input, 'port', defaults.port, ROLE_PROPERTY_LIMITS.proxyPort, '', errors, 'proxy.port');

  let host = defaults.host;
  if (input.host !== undefined) {
    if (typeof input.host !== 'string') errors.push({ field: 'proxy.host', message: `must be a string; found ${describeType(input.host)}` });
    else {
      host = input.host.trim();
      const problem = host === '' ? undefined : proxyHostProblem(host);
      if (problem) errors.push({ field: 'proxy.host', message: problem });
    }
  }
  if (enabled && host === '') errors.push({ field: 'proxy.host', message: 'required when the proxy is on' });

  let username = defaults.username;
  if (input.username !== undefined) {
    if (typeof input.username !== 'string') {
      errors.push({ field: 'proxy.username', message: `must be a string; found ${describeType(input.username)}` });
    } else if (CONTROL_CHARS.test(input.username)) {
      errors.push({ field: 'proxy.username', message: 'must not contain control characters' });
    } else if (input.username.includes(':')) {
      errors.push({ field: 'proxy.username', message: "must not contain ':' (basic authentication cannot carry it)" });
    } else if (input.username.length > 256) {
      errors.push({ field: 'proxy.username', message: 'is too long (at most 256 characters)' });
    } else username = input.username;
  }
  if (!enabled && host !== '' && errors.length === before) {
    warnings.push({ field: 'proxy.enabled', message: 'a proxy host is set but the proxy is off' });
  }
  return errors.length > before ? undefined : { enabled, host, port, username };
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

function wholeNumber(
  input: Record<string, unknown>,
  key: string,
  fallback: number,
  limits: { min: number; max: number },
  unit: string,
  errors: FieldIssue[],
  field = key,
): number {
  const value = input[key];
  if (value === undefined) return fallback;
  const suffix = unit ? ` ${unit}` : '';
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    errors.push({ field, message: `must be a whole number${suffix ? ` of${suffix}` : ''}; found ${typeof value === 'number' ? value : describeType(value)}` });
    return fallback;
  }
  if (value < limits.min || value > limits.max) {
    errors.push({ field, message: `must be between ${limits.min} and ${limits.max}${suffix}; found ${value}` });
    return fallback;
  }
  return value;
}

function bool(input: Record<string, unknown>, key: string, fallback: boolean, errors: FieldIssue[], field = key): boolean {
  const value = input[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    errors.push({ field, message: `must be true or false; found ${describeType(value)}` });
    return fallback;
  }
  return value;
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
