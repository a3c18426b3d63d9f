// The document store: evidence, resources (files uploaded to the blob store),
// cases with access policies, departments and categories.
import * as crypto from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type {
  AccessPolicy,
  Case,
  Evidence,
  PermissionLevel,
  Resource,
  ResourceCreated,
} from '../core/clearance/api';
import { PERMISSION_LEVELS, PRINCIPAL_TYPES } from '../core/clearance/api';
import { createBlobDecryptor, ENCRYPTION_METADATA_NAME, parseEncryptionData } from '../core/clearance/encryption';
import type { Accounts } from './accounts';
import type { BlobGateway } from './blobGateway';
import type { Clock } from './clock';
import { badRequest, conflict, forbidden, HttpError, notFound, type Reply, type RouteDef } from './http';
import type { IdempotencyKeys } from './idempotency';
import type { Collection } from './metadataStore';
import type { Principal } from './tokenService';
import { arr, int, isoDate, obj, oneOf, optional, parse, record, str, text } from './validate';

/** Incomplete evidence (and its resources) is purged after this long. */
export const INCOMPLETE_EVIDENCE_TTL_MS = 24 * 3600 * 1000;
/** How long an upload URI stays valid. */
const UPLOAD_URI_LIFETIME_MS = 24 * 3600 * 1000;

export type EvidenceRecord = Evidence & { TenantId: string; CreatedBy: string };
export type ResourceRecord = Resource & { TenantId: string; Container: string; BlobName: string };
export type CaseRecord = Case & { TenantId: string };

const id = (): string => crypto.randomUUID();

const accessPolicy = obj({
  PrincipalId: str({ max: 200 }),
  PrincipalType: oneOf(PRINCIPAL_TYPES),
  Permission: oneOf(PERMISSION_LEVELS),
});

const evidenceCreate = obj({
  Name: str({ max: 256 }),
  Description: optional(text(4096)),
  StartTimeUtc: optional(isoDate()),
  EndTimeUtc: optional(isoDate()),
  CategoryId: optional(str({ max: 100 })),
  Tags: optional(arr(str({ max: 100 }), { max: 50 })),
  LocationText: optional(text(512)),
  LocationWKT: optional(text(4096)),
  Device: optional(obj({ DeviceId: optional(str({ max: 200 })), Name: optional(str({ max: 256 })), Type: optional(str({ max: 100 })) })),
  AccessPolicies: optional(arr(accessPolicy, { max: 100 })),
  CustomFields: optional(record(text(1024), { maxKeys: 50 })),
});

const resourceCreate = obj({
  Name: str({ max: 256 }),
  MimeType: str({ max: 100, pattern: /^[\w.+-]+\/[\w.+-]+$/, patternText: 'a MIME type like video/mp4' }),
  StartTimeUtc: optional(isoDate()),
  EndTimeUtc: optional(isoDate()),
  TimeOffset: optional(int({ min: -86400000, max: 86400000 })),
  Parent: optional(str({ max: 100 })),
  Thumbnail: optional(str({ max: 100 })),
});

const resourceComplete = obj({
  Size: int({ min: 0, max: 5 * 1024 ** 4 }),
  Sha256: optional(str({ max: 100, pattern: /^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, patternText: 'a SHA-256 in hex or base64' })),
});

const caseCreate = obj({
  Name: str({ max: 256 }),
  Description: optional(text(4096)),
  DepartmentId: optional(str({ max: 100 })),
  CategoryId: optional(str({ max: 100 })),
  IncidentTimeUtc: optional(isoDate()),
  CaseInfo: optional(text(4096)),
  AccessPolicies: optional(arr(accessPolicy, { max: 100 })),
});

const caseLink = obj({ EvidenceId: str({ max: 100 }) });
const policiesBody = obj({ AccessPolicies: arr(accessPolicy, { max: 100 }) });

function rank(level: PermissionLevel): number {
  return PERMISSION_LEVELS.indexOf(level);
}

/** The highest level the policies grant this integration, if any. */
export function permissionOf(policies: AccessPolicy[], principal: Principal): PermissionLevel | undefined {
  let best: PermissionLevel | undefined;
  for (const p of policies) {
    if (p.PrincipalType !== 'Integration' || p.PrincipalId !== principal.clientId) continue;
    if (best === undefined || rank(p.Permission) > rank(best)) best = p.Permission;
  }
  return best;
}

function requirePermission(policies: AccessPolicy[], principal: Principal, needed: PermissionLevel, what: string): void {
  const has = permissionOf(policies, principal);
  return requireLevel(has, needed, what);
}

function requireLevel(has: PermissionLevel | undefined, needed: PermissionLevel, what: string): void {
  if (has === undefined) throw forbidden(`${what}: the caller has no access`);
  if (rank(has) < rank(needed)) throw forbidden(`${what}: the caller has ${has}, ${needed} is needed`);
}

function withOwner(policies: AccessPolicy[] | undefined, principal: Principal): AccessPolicy[] {
  const list = [...(policies ?? [])];
  if (permissionOf(list, principal) !== 'Manage') list.push({ PrincipalId: principal.clientId, PrincipalType: 'Integration', Permission: 'Manage' });
  return list;
}

function publicEvidence(e: EvidenceRecord): Evidence {
  const { TenantId: _t, CreatedBy: _c, ...rest } = e;
  return rest;
}

function publicResource(r: ResourceRecord): Resource {
  const { TenantId: _t, Container: _c, BlobName: _b, ...rest } = r;
  return rest;
}

function publicCase(c: CaseRecord): Case {
  const { TenantId: _t, ...rest } = c;
  return rest;
}

export interface DocumentStoreDeps {
  accounts: Accounts;
  evidence: Collection<EvidenceRecord>;
  resources: Collection<ResourceRecord>;
  cases: Collection<CaseRecord>;
  blobs: BlobGateway;
  idempotency: IdempotencyKeys;
  clock: Clock;
  log: (m: string) => void;
}

export class DocumentStore {
  constructor(private readonly d: DocumentStoreDeps) {}

  tenantOf(principal: Principal, tenantId: string): void {
    if (tenantId !== principal.tenantId) throw forbidden(`tenant ${tenantId}: the token is for tenant ${principal.tenantId}`);
  }

  /** The caller's level on evidence: its own policies, or those of a case that holds it. */
  evidencePermission(e: EvidenceRecord, principal: Principal): PermissionLevel | undefined {
    let best = permissionOf(e.AccessPolicies ?? [], principal);
    for (const caseId of e.CaseIds) {
      const c = this.d.cases.get(caseId);
      const level = c ? permissionOf(c.AccessPolicies, principal) : undefined;
      if (level !== undefined && (best === undefined || rank(level) > rank(best))) best = level;
    }
    return best;
  }

  evidenceFor(principal: Principal, tenantId: string, evidenceId: string, needed: PermissionLevel): EvidenceRecord {
    this.tenantOf(principal, tenantId);
    const e = this.d.evidence.get(evidenceId);
    if (!e || e.TenantId !== tenantId) throw notFound(`evidence ${evidenceId}`);
    requireLevel(this.evidencePermission(e, principal), needed, `evidence ${evidenceId}`);
    return e;
  }

  caseFor(principal: Principal, tenantId: string, caseId: string, needed: PermissionLevel): CaseRecord {
    this.tenantOf(principal, tenantId);
    const c = this.d.cases.get(caseId);
    if (!c || c.TenantId !== tenantId) throw notFound(`case ${caseId}`);
    requirePermission(c.AccessPolicies, principal, needed, `case ${caseId}`);
    return c;
  }

  /** Creates a case on behalf of the service (a request without a case). */
  async createCase(tenantId: string, body: Omit<Case, 'CaseId' | 'State' | 'CreatedTimeUtc' | 'EvidenceIds'>, caseId = id()): Promise<CaseRecord> {
    const rec: CaseRecord = {
      ...body,
      CaseId: caseId,
      State: 'Open',
      EvidenceIds: [],
      CreatedTimeUtc: this.d.clock.now().toISOString(),
      TenantId: tenantId,
    };
    await this.d.cases.put(rec.CaseId, rec);
    return rec;
  }

  async linkEvidence(c: CaseRecord, e: EvidenceRecord): Promise<CaseRecord> {
    if (!c.EvidenceIds.includes(e.EvidenceId)) {
      c.EvidenceIds.push(e.EvidenceId);
      await this.d.cases.put(c.CaseId, c);
    }
    if (!e.CaseIds.includes(c.CaseId)) {
      e.CaseIds.push(c.CaseId);
      await this.d.evidence.put(e.EvidenceId, e);
    }
    return c;
  }

  evidenceExists(tenantId: string, evidenceId: string): EvidenceRecord | undefined {
    const e = this.d.evidence.get(evidenceId);
    return e && e.TenantId === tenantId ? e : undefined;
  }

  caseExists(tenantId: string, caseId: string): CaseRecord | undefined {
    const c = this.d.cases.get(caseId);
    return c && c.TenantId === tenantId ? c : undefined;
  }

  /** Removes evidence with its resources, their blobs, and its links from cases. */
  private async removeEvidence(e: EvidenceRecord): Promise<void> {
    const resources = this.d.resources.all().filter((x) => x.EvidenceId === e.EvidenceId);
    for (const r of resources) {
      try {
        await (await this.d.blobs.container(r.TenantId)).getBlobClient(r.BlobName).deleteIfExists();
      } catch (err) {
        this.d.log(`could not delete the blob of resource ${r.ResourceId}: ${(err as Error).message}`);
      }
      await this.d.resources.delete(r.ResourceId);
    }
    for (const caseId of e.CaseIds) {
      const c = this.d.cases.get(caseId);
      if (c && c.EvidenceIds.includes(e.EvidenceId)) {
        c.EvidenceIds = c.EvidenceIds.filter((x) => x !== e.EvidenceId);
        await this.d.cases.put(c.CaseId, c);
      }
    }
    await this.d.evidence.delete(e.EvidenceId);
    await this.d.idempotency.markGone([e.EvidenceId, ...resources.map((r) => r.ResourceId)]);
  }

  /** Deletes evidence left incomplete for 24 h, with its resources and blobs. */
  async sweep(): Promise<void> {
    const cutoff = this.d.clock.now().getTime() - INCOMPLETE_EVIDENCE_TTL_MS;
    const due = [...this.d.evidence.scan()].filter(([, e]) => e.State === 'Incomplete' && Date.parse(e.CreatedTimeUtc) <= cutoff);
    for (const [evidenceId] of due) {
      const e = this.d.evidence.get(evidenceId);
      if (!e) continue;
      await this.removeEvidence(e);
      this.d.log(`purged incomplete evidence ${e.EvidenceId} (older than 24 h)`);
    }
  }

  /** Answer of resource creation (and of its replay): the resource with a fresh upload URI. */
  private resourceCreated(rec: ResourceRecord, status: number): Reply {
    // The SAS is checked by Azurite against the real time, not the injectable clock.
    const realNow = Date.now();
    const created: ResourceCreated = {
      ...publicResource(rec),
      UploadUri: this.d.blobs.uploadUri(rec.Container, rec.BlobName, new Date(realNow - 5 * 60000), new Date(realNow + UPLOAD_URI_LIFETIME_MS)),
      UploadUriExpiresUtc: new Date(this.d.clock.now().getTime() + UPLOAD_URI_LIFETIME_MS).toISOString(),
    };
    return { status, body: created };
  }

  /** The plain content of a complete resource: decrypted with the account's key unless it went up plain. */
  private async content(r: ResourceRecord): Promise<Reply> {
    const blob = (await this.d.blobs.container(r.TenantId)).getBlobClient(r.BlobName);
    const props = await blob.getProperties();
    const metaKey = Object.keys(props.metadata ?? {}).find((k) => k.toLowerCase() === ENCRYPTION_METADATA_NAME);
    const download = await blob.download(0);
    if (!download.readableStreamBody) throw new Error('blob download has no body');
    const headers = { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${r.Name.replace(/["\\\r\n]/g, '_')}"` };
    if (!metaKey) return { status: 200, headers, stream: download.readableStreamBody };
    const tenant = this.d.accounts.tenant(r.TenantId);
    if (!tenant) throw new Error(`tenant ${r.TenantId} is missing`);
    const decryptor = createBlobDecryptor({ encryptionData: parseEncryptionData(props.metadata![metaKey]), privateKey: tenant.encryptionPrivateJwk });
    download.readableStreamBody.on('error', (err) => decryptor.destroy(err));
    return { status: 200, headers, stream: download.readableStreamBody.pipe(decryptor) };
  }

  private async verifyBlob(r: ResourceRecord, size: number, sha256: string | undefined): Promise<void> {
    const integration = this.d.accounts.allIntegrations().find((i) => i.clientId === r.UploadedBy.PrincipalId);
    const tenant = this.d.accounts.tenant(r.TenantId);
    if (!tenant) throw new Error(`tenant ${r.TenantId} is missing`);
    const blob = (await this.d.blobs.container(r.TenantId)).getBlobClient(r.BlobName);
    let props;
    try {
      props = await blob.getProperties();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) {
        throw new HttpError(409, 'blob_not_committed', 'the blob has no committed content: upload its blocks and commit them with Put Block List first');
      }
      throw err;
    }
    if (props.contentLength !== size) {
      throw new HttpError(409, 'size_mismatch', `Size: the committed blob has ${props.contentLength} bytes, not ${size}`, { field: 'Size' });
    }
    const metaKey = Object.keys(props.metadata ?? {}).find((k) => k.toLowerCase() === ENCRYPTION_METADATA_NAME);
    const metaValue = metaKey ? props.metadata?.[metaKey] : undefined;
    const encrypted = !(integration?.disableEncryption ?? false);
    let decryptor: NodeJS.ReadWriteStream | undefined;
    if (encrypted) {
      const field = 'x-ms-meta-encryptiondata';
      if (!metaValue) throw new HttpError(409, 'encryption_missing', `${field}: the blob carries no encryption metadata`, { field });
      let data;
      try {
        data = parseEncryptionData(metaValue);
      } catch (err) {
        throw new HttpError(409, 'encryption_invalid', `${field}: ${(err as Error).message}`, { field });
      }
      if (data.WrappedContentKey.KeyId !== tenant.encryptionKeyId) {
        throw new HttpError(409, 'encryption_invalid', `${field}: WrappedContentKey.KeyId is not the account's key (${tenant.encryptionKeyId})`, { field });
      }
      if (size === 0 || size % 16 !== 0) throw new HttpError(409, 'encryption_invalid', `Size: ${size} is not a whole number of AES blocks`, { field: 'Size' });
      try {
        decryptor = createBlobDecryptor({ encryptionData: data, privateKey: tenant.encryptionPrivateJwk });
      } catch (err) {
        throw new HttpError(409, 'encryption_invalid', `${field}: the content key does not unwrap with the account's key (${(err as Error).message})`, { field });
      }
    }
    if (sha256 === undefined) return;
    const expected = /^[0-9a-fA-F]{64}$/.test(sha256) ? sha256.toLowerCase() : Buffer.from(sha256, 'base64').toString('hex');
    const hash = crypto.createHash('sha256');
    const download = await blob.download(0);
    if (!download.readableStreamBody) throw new Error('blob download has no body');
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    });
    try {
      if (decryptor) await pipeline(download.readableStreamBody, decryptor, sink);
      else await pipeline(download.readableStreamBody, sink);
    } catch (err) {
      throw new HttpError(409, 'decryption_failed', `the blob does not decrypt with its metadata (${(err as Error).message})`);
    }
    const actual = hash.digest('hex');
    if (actual !== expected) {
      throw new HttpError(409, 'sha256_mismatch', `Sha256: the ${encrypted ? 'decrypted ' : ''}blob has SHA-256 ${actual}, not ${expected}`, { field: 'Sha256' });
    }
  }

  routes(): RouteDef<Principal>[] {
    const P = '/documentstore/api/v1';
    const now = (): string => this.d.clock.now().toISOString();
    const ok = (body: unknown, status = 200): Reply => ({ status, body });
    return [
      {
        name: 'departments.list',
        method: 'GET',
        path: `${P}/tenant/:tenantId/departments`,
        auth: true,
        handler: ({ params, principal }) => {
          this.tenantOf(principal!, params.tenantId);
          return ok(this.d.accounts.tenant(params.tenantId)?.departments ?? []);
        },
      },
      {
        name: 'categories.list',
        method: 'GET',
        path: `${P}/tenant/:tenantId/categories`,
        auth: true,
        handler: ({ params, principal }) => {
          this.tenantOf(principal!, params.tenantId);
          return ok(this.d.accounts.tenant(params.tenantId)?.categories ?? []);
        },
      },
      {
        name: 'evidence.create',
        method: 'POST',
        path: `${P}/tenant/:tenantId/evidence`,
        auth: true,
        body: 'json',
        handler: async ({ req, params, principal, body, routeName, path }) => {
          this.tenantOf(principal!, params.tenantId);
          const input = parse(evidenceCreate, body);
          const tenant = this.d.accounts.tenant(params.tenantId);
          if (input.CategoryId && !tenant?.categories.some((c) => c.CategoryId === input.CategoryId)) {
            throw badRequest('CategoryId', `unknown category ${input.CategoryId}`);
          }
          return this.d.idempotency.run({
            req,
            clientId: principal!.clientId,
            route: routeName,
            path,
            body,
            existing: (evidenceId) => {
              const e = this.evidenceExists(params.tenantId, evidenceId);
              return e ? ok(publicEvidence(e)) : undefined;
            },
            create: async (evidenceId) => {
              const rec: EvidenceRecord = {
                ...input,
                AccessPolicies: withOwner(input.AccessPolicies, principal!),
                EvidenceId: evidenceId,
                State: 'Incomplete',
                ConcurrencyId: id(),
                CreatedTimeUtc: now(),
                CompletedTimeUtc: null,
                CaseIds: [],
                TenantId: params.tenantId,
                CreatedBy: principal!.clientId,
              };
              await this.d.evidence.put(rec.EvidenceId, rec);
              return ok(publicEvidence(rec), 201);
            },
          });
        },
      },
      {
        name: 'evidence.list',
        method: 'GET',
        path: `${P}/tenant/:tenantId/evidence`,
        auth: true,
        handler: ({ params, principal, query }) => {
          this.tenantOf(principal!, params.tenantId);
          const state = optional(oneOf(['Incomplete', 'Complete'] as const))(query.get('state') ?? undefined, 'state');
          const visible = [...this.d.evidence.scan()]
            .map(([, e]) => e)
            .filter((e) => e.TenantId === params.tenantId && (state === undefined || e.State === state))
            .filter((e) => this.evidencePermission(e, principal!) !== undefined)
            .sort((a, b) => a.CreatedTimeUtc.localeCompare(b.CreatedTimeUtc))
            .map((e) => publicEvidence(structuredClone(e)));
          return ok(visible);
        },
      },
      {
        name: 'evidence.get',
        method: 'GET',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId`,
        auth: true,
        handler: ({ params, principal }) => ok(publicEvidence(this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'ViewOnly'))),
      },
      {
        name: 'evidence.delete',
        method: 'DELETE',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId`,
        auth: true,
        handler: async ({ params, principal }) => {
          const e = this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'Manage');
          if (e.State === 'Complete') throw conflict(`evidence ${e.EvidenceId} is complete: only incomplete evidence can be canceled`);
          await this.removeEvidence(e);
          this.d.log(`evidence ${e.EvidenceId} canceled by ${principal!.clientId}`);
          return { status: 204 };
        },
      },
      {
        name: 'evidence.complete',
        method: 'POST',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId/complete`,
        auth: true,
        handler: async ({ params, principal }) => {
          const e = this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'Edit');
          if (e.State === 'Complete') return ok(publicEvidence(e));
          const pending = this.d.resources.all().filter((r) => r.EvidenceId === e.EvidenceId && r.State !== 'Complete');
          if (pending.length) throw conflict(`evidence ${e.EvidenceId}: resource ${pending[0].ResourceId} is not complete`);
          e.State = 'Complete';
          e.CompletedTimeUtc = now();
          e.ConcurrencyId = id();
          await this.d.evidence.put(e.EvidenceId, e);
          return ok(publicEvidence(e));
        },
      },
      {
        name: 'resource.create',
        method: 'POST',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId/resource`,
        auth: true,
        body: 'json',
        handler: async ({ req, params, principal, body, routeName, path }) => {
          const e = this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'Edit');
          const input = parse(resourceCreate, body);
          const existing = (resourceId: string): Reply | undefined => {
            const r = this.d.resources.get(resourceId);
            return r && r.EvidenceId === e.EvidenceId ? this.resourceCreated(r, 200) : undefined;
          };
          const create = async (resourceId: string): Promise<Reply> => {
            if (e.State === 'Complete') throw conflict(`evidence ${e.EvidenceId} is complete: no more resources can be added`);
            const container = await this.d.blobs.container(params.tenantId);
            const rec: ResourceRecord = {
              ResourceId: resourceId,
              EvidenceId: e.EvidenceId,
              Name: input.Name,
              MimeType: input.MimeType,
              StartTimeUtc: input.StartTimeUtc ?? null,
              EndTimeUtc: input.EndTimeUtc ?? null,
              TimeOffset: input.TimeOffset ?? 0,
              UploadedTimeUtc: null,
              UploadedBy: { KId: principal!.kid, Username: principal!.name, PrincipalId: principal!.clientId, PrincipalType: 'Integration' },
              Parent: input.Parent ?? null,
              Thumbnail: input.Thumbnail ?? null,
              UploadCertificateThumbprint: null,
              State: 'Pending',
              Size: null,
              TenantId: params.tenantId,
              Container: container.containerName,
              BlobName: `${e.EvidenceId}/${resourceId}`,
            };
            await this.d.resources.put(resourceId, rec);
            return this.resourceCreated(rec, 201);
          };
          return this.d.idempotency.run({ req, clientId: principal!.clientId, route: routeName, path, body, existing, create });
        },
      },
      {
        name: 'resource.list',
        method: 'GET',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId/resource`,
        auth: true,
        handler: ({ params, principal }) => {
          const e = this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'ViewOnly');
          return ok(this.d.resources.all().filter((r) => r.EvidenceId === e.EvidenceId).map(publicResource));
        },
      },
      {
        name: 'resource.get',
        method: 'GET',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId/resource/:resourceId`,
        auth: true,
        handler: ({ params, principal }) => {
          this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'ViewOnly');
          const r = this.d.resources.get(params.resourceId);
          if (!r || r.EvidenceId !== params.evidenceId) throw notFound(`resource ${params.resourceId}`);
          return ok(publicResource(r));
        },
      },
      {
        name: 'resource.content',
        method: 'GET',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId/resource/:resourceId/content`,
        auth: true,
        handler: async ({ params, principal }) => {
          this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'ViewAndDownload');
          const r = this.d.resources.get(params.resourceId);
          if (!r || r.EvidenceId !== params.evidenceId) throw notFound(`resource ${params.resourceId}`);
          if (r.State !== 'Complete') throw conflict(`resource ${r.ResourceId} is not complete`);
          return this.content(r);
        },
      },
      {
        name: 'resource.complete',
        method: 'POST',
        path: `${P}/tenant/:tenantId/evidence/:evidenceId/resource/:resourceId/complete`,
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          this.evidenceFor(principal!, params.tenantId, params.evidenceId, 'Edit');
          const input = parse(resourceComplete, body);
          const r = this.d.resources.get(params.resourceId);
          if (!r || r.EvidenceId !== params.evidenceId) throw notFound(`resource ${params.resourceId}`);
          if (r.State === 'Complete') {
            // A retry after a lost answer: same size is fine, a different one is not.
            if (r.Size !== input.Size) throw conflict(`resource ${r.ResourceId} is already complete with Size ${r.Size}`);
            return ok(publicResource(r));
          }
          await this.verifyBlob(r, input.Size, input.Sha256);
          r.State = 'Complete';
          r.Size = input.Size;
          r.UploadedTimeUtc = now();
          await this.d.resources.put(r.ResourceId, r);
          return ok(publicResource(r));
        },
      },
      {
        name: 'case.create',
        method: 'POST',
        path: `${P}/case/:tenantId`,
        auth: true,
        body: 'json',
        handler: async ({ req, params, principal, body, routeName, path }) => {
          this.tenantOf(principal!, params.tenantId);
          const input = parse(caseCreate, body);
          const tenant = this.d.accounts.tenant(params.tenantId);
          if (input.DepartmentId && !tenant?.departments.some((x) => x.DepartmentId === input.DepartmentId)) {
            throw badRequest('DepartmentId', `unknown department ${input.DepartmentId}`);
          }
          if (input.CategoryId && !tenant?.categories.some((x) => x.CategoryId === input.CategoryId)) {
            throw badRequest('CategoryId', `unknown category ${input.CategoryId}`);
          }
          return this.d.idempotency.run({
            req,
            clientId: principal!.clientId,
            route: routeName,
            path,
            body,
            existing: (caseId) => {
              const c = this.caseExists(params.tenantId, caseId);
              return c ? ok(publicCase(c)) : undefined;
            },
            create: async (caseId) => {
              const rec = await this.createCase(
                params.tenantId,
                { ...input, AccessPolicies: withOwner(input.AccessPolicies, principal!), CreatedBy: principal!.clientId },
                caseId,
              );
              return ok(publicCase(rec), 201);
            },
          });
        },
      },
      {
        name: 'case.list',
        method: 'GET',
        path: `${P}/case/:tenantId`,
        auth: true,
        handler: ({ params, principal }) => {
          this.tenantOf(principal!, params.tenantId);
          const visible = this.d.cases
            .all()
            .filter((c) => c.TenantId === params.tenantId && permissionOf(c.AccessPolicies, principal!) !== undefined);
          return ok(visible.map(publicCase));
        },
      },
      {
        name: 'case.get',
        method: 'GET',
        path: `${P}/case/:tenantId/:caseId`,
        auth: true,
        handler: ({ params, principal }) => ok(publicCase(this.caseFor(principal!, params.tenantId, params.caseId, 'ViewOnly'))),
      },
      {
        name: 'case.linkEvidence',
        method: 'POST',
        path: `${P}/case/:tenantId/:caseId/evidence`,
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          const c = this.caseFor(principal!, params.tenantId, params.caseId, 'Edit');
          const input = parse(caseLink, body);
          const e = this.evidenceFor(principal!, params.tenantId, input.EvidenceId, 'ViewOnly');
          return ok(publicCase(await this.linkEvidence(c, e)));
        },
      },
      {
        name: 'case.setAccessPolicies',
        method: 'PUT',
        path: `${P}/case/:tenantId/:caseId/accesspolicies`,
        auth: true,
        body: 'json',
        handler: async ({ params, principal, body }) => {
          const c = this.caseFor(principal!, params.tenantId, params.caseId, 'Manage');
          const input = parse(policiesBody, body);
          c.AccessPolicies = input.AccessPolicies;
          if (!c.AccessPolicies.some((p) => p.Permission === 'Manage')) {
            throw badRequest('AccessPolicies', 'must keep at least one principal with Manage');
          }
          await this.d.cases.put(c.CaseId, c);
          return ok(publicCase(c));
        },
      },
    ];
  }
}
