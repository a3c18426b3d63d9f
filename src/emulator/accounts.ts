// Accounts (tenants) and their integrations. Creating an integration makes the
// RSA key pair of its connection file; the service keeps only the public half.
// Each tenant also has an encryption key pair: the public half is served by the
// key store, the private half lets the service verify uploaded evidence.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Category, ConnectionFile, Department, ServicePrincipalKey } from '../core/clearance/api';
import { BASE_ADDRESS_KEYS } from '../core/clearance/api';
import type { Clock } from './clock';
import type { Collection } from './metadataStore';

export const DEFAULT_TENANT_ID = 'tenant-local';
export const DEFAULT_INTEGRATION_NAME = 'Local-Role';
const FIRST_SERVICE_PRINCIPAL_ID = 151;
/** .NET's DateTime.MinValue, as the vendor's connection files carry it. */
const DOTNET_MIN_DATE = '0001-01-01T00:00:00';

export interface PublicRsaJwk extends crypto.JsonWebKey {
  kty: 'RSA';
  n: string;
  e: string;
}

export interface TenantRecord {
  tenantId: string;
  name: string;
  encryptionKeyId: string;
  encryptionPublicJwk: PublicRsaJwk;
  /** Service-side secret: decrypts evidence to verify it. Never leaves the service. */
  encryptionPrivateJwk: crypto.JsonWebKey;
  departments: Department[];
  categories: Category[];
  createdUtc: string;
}

export interface IntegrationRecord {
  clientId: string; // <ServicePrincipalId>@<TenantId>
  tenantId: string;
  servicePrincipalId: string;
  name: string;
  kid: string;
  publicJwk: PublicRsaJwk;
  disableEncryption: boolean;
  createdUtc: string;
}

/** Base URLs of every service, all on this emulator. */
export type ServiceAddresses = Pick<ConnectionFile, (typeof BASE_ADDRESS_KEYS)[number]>;

export function serviceAddresses(baseUrl: string): ServiceAddresses {
  const b = baseUrl.replace(/\/+$/, '');
  return {
    DocumentStoreBaseAddresses: [`${b}/documentstore/api/v1`],
    SecurityTokenServiceBaseAddresses: [`${b}/connect`],
    KeyStoreBaseAddresses: [`${b}/keystore/api/v1`],
    DeviceServiceBaseAddresses: [`${b}/deviceservice/api/v1`],
    CaseServiceBaseAddresses: [`${b}/documentstore/api/v1`],
    SearchServiceBaseAddresses: [`${b}/search/api/v1`],
    UserServiceBaseAddresses: [`${b}/userservice/api/v1`],
    ApiBaseAddresses: [b],
    CADApiAddresses: [`${b}/cad/api/v1`],
  };
}

const SEED_DEPARTMENTS: Department[] = [
  { DepartmentId: 'dep-patrol', Name: 'Patrol' },
  { DepartmentId: 'dep-investigations', Name: 'Investigations' },
  { DepartmentId: 'dep-traffic', Name: 'Traffic' },
];

const SEED_CATEGORIES: Category[] = [
  { CategoryId: 'cat-general', Name: 'General', RetentionDays: 90 },
  { CategoryId: 'cat-theft', Name: 'Theft', RetentionDays: 730 },
  { CategoryId: 'cat-traffic', Name: 'Traffic incident', RetentionDays: 365 },
  { CategoryId: 'cat-assault', Name: 'Assault', RetentionDays: 2555 },
];

function generateRsa(): { publicJwk: PublicRsaJwk; privateJwk: crypto.JsonWebKey; publicKey: crypto.KeyObject } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const pub = publicKey.export({ format: 'jwk' });
  return { publicJwk: { kty: 'RSA', n: pub.n as string, e: pub.e as string }, privateJwk: privateKey.export({ format: 'jwk' }), publicKey };
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'integration';
}

/** File name the vendor uses for a downloaded configuration: `{IntegrationName}.json`. */
export function connectionFileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`;
}

export const INTEGRATION_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export class Accounts {
  constructor(
    private readonly tenants: Collection<TenantRecord>,
    private readonly integrations: Collection<IntegrationRecord>,
    private readonly clock: Clock,
  ) {}

  tenant(tenantId: string): TenantRecord | undefined {
    return this.tenants.get(tenantId);
  }

  allTenants(): TenantRecord[] {
    return this.tenants.all();
  }

  integration(clientId: string): IntegrationRecord | undefined {
    return this.integrations.get(clientId);
  }

  integrationByKid(kid: string): IntegrationRecord | undefined {
    return this.integrations.all().find((i) => i.kid === kid);
  }

  allIntegrations(): IntegrationRecord[] {
    return this.integrations.all();
  }

  async ensureTenant(tenantId: string, name = tenantId): Promise<TenantRecord> {
    const existing = this.tenants.get(tenantId);
    if (existing) return existing;
    const { publicJwk, privateJwk } = generateRsa();
    const record: TenantRecord = {
      tenantId,
      name,
      encryptionKeyId: `urn:keystore:${tenantId}:evidence-encryption:1`,
      encryptionPublicJwk: publicJwk,
      encryptionPrivateJwk: privateJwk,
      departments: SEED_DEPARTMENTS,
      categories: SEED_CATEGORIES,
      createdUtc: this.clock.now().toISOString(),
    };
    await this.tenants.put(tenantId, record);
    return record;
  }

  /**
   * Creates an integration and answers its connection file, the only place the
   * private key ever exists.
   */
  async createIntegration(
    options: { name: string; tenantId?: string; disableEncryption?: boolean },
    addresses: ServiceAddresses,
  ): Promise<{ record: IntegrationRecord; connection: ConnectionFile }> {
    if (!INTEGRATION_NAME.test(options.name)) throw new Error('name: must be 1-64 letters, digits, spaces, dots, dashes or underscores');
    const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
    if (!TENANT_ID.test(tenantId)) throw new Error('tenant: must be 1-64 letters, digits or dashes');
    await this.ensureTenant(tenantId);
    if (this.integrations.all().some((i) => i.tenantId === tenantId && i.name === options.name)) {
      throw new Error(`name: an integration named "${options.name}" already exists in ${tenantId}`);
    }
    const ids = this.integrations.all().map((i) => Number(i.servicePrincipalId)).filter(Number.isFinite);
    const servicePrincipalId = String(Math.max(FIRST_SERVICE_PRINCIPAL_ID - 1, ...ids) + 1);
    const kid = `urn:service:${tenantId}:${slug(options.name)}:${servicePrincipalId}`;
    const { publicJwk, privateJwk } = generateRsa();
    const record: IntegrationRecord = {
      clientId: `${servicePrincipalId}@${tenantId}`,
      tenantId,
      servicePrincipalId,
      name: options.name,
      kid,
      publicJwk,
      disableEncryption: options.disableEncryption ?? false,
      createdUtc: this.clock.now().toISOString(),
    };
    await this.integrations.put(record.clientId, record);
    const key: ServicePrincipalKey = {
      kid,
      kty: 'RSA',
      n: privateJwk.n as string,
      e: privateJwk.e as string,
      d: privateJwk.d as string,
      p: privateJwk.p as string,
      q: privateJwk.q as string,
      dp: privateJwk.dp as string,
      dq: privateJwk.dq as string,
      qi: privateJwk.qi as string,
      k: null,
      use: null,
      x5t: null,
      nbf: DOTNET_MIN_DATE,
      exp: DOTNET_MIN_DATE,
    };
    const connection: ConnectionFile = {
      ...addresses,
      APIKey: crypto.randomBytes(24).toString('base64url'),
      CertificateThumbprints: [],
      DisableEncryption: record.disableEncryption,
      ServicePrincipalId: servicePrincipalId,
      ServicePrincipalKey: key,
      TenantId: tenantId,
    };
    return { record, connection };
  }
}

/** Writes a connection file readable only by its owner (it holds a private key). */
export function writeConnectionFile(file: string, connection: ConnectionFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(connection, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/**
 * Points the connection files kept under `dir` at the current addresses (the
 * port may change between starts). Answers the files it rewrote.
 */
export function refreshConnectionFiles(dir: string, addresses: ServiceAddresses): string[] {
  if (!fs.existsSync(dir)) return [];
  const changed: string[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const file = path.join(dir, f);
    let cf: ConnectionFile;
    try {
      cf = JSON.parse(fs.readFileSync(file, 'utf8')) as ConnectionFile;
    } catch {
      continue;
    }
    if (BASE_ADDRESS_KEYS.every((k) => JSON.stringify(cf[k]) === JSON.stringify(addresses[k]))) continue;
    writeConnectionFile(file, { ...cf, ...addresses });
    changed.push(file);
  }
  return changed;
}
