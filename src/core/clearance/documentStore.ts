// The Clearance document store as the upload queue and the operator export see
// it (docs/clearance-api.md §5): evidence, resources, cases, departments and
// categories, plus the account's public encryption key from the key store (§6).
// Every create sends an Idempotency-Key, so a retry after a lost answer or a
// crash never makes a second case, evidence item or resource.
import type { AccountInfo } from '../config/connectionFile';
import type { EvidenceService } from '../uploads/ports';
import { IDEMPOTENCY_KEY_HEADER } from './api';
import type {
  Case,
  ConnectionFile,
  CaseCreate,
  Category,
  Department,
  EncryptionKeyResponse,
  Evidence,
  EvidenceCreate,
  Resource,
  ResourceComplete,
  ResourceCreate,
  ResourceCreated,
} from './api';
import type { PublicKeyInput } from './encryption';
import type { ClearanceSession } from './session';

export interface DocumentStoreClientOptions {
  session: ClearanceSession;
  /** The account (TenantId). */
  tenantId: string;
  /** DocumentStoreBaseAddresses[0], e.g. https://…/documentstore/api/v1 */
  documentStoreUrl: string;
  /** KeyStoreBaseAddresses[0]. */
  keyStoreUrl: string;
  /** DisableEncryption of the connection file: evidence goes up plain. */
  disableEncryption: boolean;
}

export interface EncryptionKey {
  keyId: string;
  publicKey: PublicKeyInput;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');
const seg = encodeURIComponent;

export class DocumentStoreClient implements EvidenceService {
  private readonly ds: string;
  private readonly ks: string;
  private readonly session: ClearanceSession;
  readonly tenantId: string;
  readonly disableEncryption: boolean;
  private key?: Promise<EncryptionKey>;

  constructor(options: DocumentStoreClientOptions) {
    if (!options.tenantId) throw new Error('tenantId: required');
    this.session = options.session;
    this.tenantId = options.tenantId;
    this.ds = trimSlash(options.documentStoreUrl);
    this.ks = trimSlash(options.keyStoreUrl);
    this.disableEncryption = options.disableEncryption;
  }

  /** The client for an imported account (first base address of each service). */
  static forAccount(session: ClearanceSession, account: Pick<AccountInfo, 'accountId' | 'baseAddresses' | 'disableEncryption'>): DocumentStoreClient {
    const { DocumentStoreBaseAddresses, KeyStoreBaseAddresses } = account.baseAddresses;
    return DocumentStoreClient.firstAddresses(session, account.accountId, { DocumentStoreBaseAddresses, KeyStoreBaseAddresses }, account.disableEncryption);
  }

  /** The client straight from a connection file (tools, tests and benches that skip the import). */
  static forConnection(
    session: ClearanceSession,
    connection: Pick<ConnectionFile, 'TenantId' | 'DocumentStoreBaseAddresses' | 'KeyStoreBaseAddresses' | 'DisableEncryption'>,
  ): DocumentStoreClient {
    return DocumentStoreClient.firstAddresses(session, connection.TenantId, connection, connection.DisableEncryption);
  }

  private static firstAddresses(
    session: ClearanceSession,
    tenantId: string,
    addresses: Pick<ConnectionFile, 'DocumentStoreBaseAddresses' | 'KeyStoreBaseAddresses'>,
    disableEncryption: boolean,
  ): DocumentStoreClient {
    const first = (field: 'DocumentStoreBaseAddresses' | 'KeyStoreBaseAddresses'): string => {
      const url = addresses[field][0];
      if (!url) throw new Error(`${field}: the account has no address for this service`);
      return url;
    };
    return new DocumentStoreClient({
      session,
      tenantId,
      documentStoreUrl: first('DocumentStoreBaseAddresses'),
      keyStoreUrl: first('KeyStoreBaseAddresses'),
      disableEncryption,
    });
  }

  private get tenant(): string {
    return `${this.ds}/tenant/${seg(this.tenantId)}`;
  }

  private get cases(): string {
    return `${this.ds}/case/${seg(this.tenantId)}`;
  }

  /** POST with an idempotency key: safe to retry, so the transport may. */
  private create<T>(url: string, key: string, body: unknown): Promise<T> {
    if (!key) throw new Error('idempotencyKey: required');
    return this.session.json<T>(url, { method: 'POST', json: body, headers: { [IDEMPOTENCY_KEY_HEADER]: key }, retryable: true });
  }

  // ---- EvidenceService ------------------------------------------------------------------

  async createCase(input: { idempotencyKey: string; name: string; departmentId?: string; categoryId?: string; description?: string }): Promise<{ caseId: string }> {
    const body: CaseCreate = {
      Name: input.name,
      ...(input.description ? { Description: input.description } : {}),
      ...(input.departmentId ? { DepartmentId: input.departmentId } : {}),
      ...(input.categoryId ? { CategoryId: input.categoryId } : {}),
    };
    const c = await this.create<Case>(this.cases, input.idempotencyKey, body);
    return { caseId: c.CaseId };
  }

  async createEvidence(input: Parameters<EvidenceService['createEvidence']>[0]): Promise<{ evidenceId: string }> {
    const body: EvidenceCreate = {
      Name: input.name,
      ...(input.description ? { Description: input.description } : {}),
      ...(input.startTimeUtc ? { StartTimeUtc: input.startTimeUtc } : {}),
      ...(input.endTimeUtc ? { EndTimeUtc: input.endTimeUtc } : {}),
      ...(input.categoryId ? { CategoryId: input.categoryId } : {}),
      ...(input.customFields && Object.keys(input.customFields).length ? { CustomFields: { ...input.customFields } } : {}),
    };
    const e = await this.create<Evidence>(`${this.tenant}/evidence`, input.idempotencyKey, body);
    return { evidenceId: e.EvidenceId };
  }

  async linkEvidenceToCase(caseId: string, evidenceId: string): Promise<void> {
    await this.session.call(`${this.cases}/${seg(caseId)}/evidence`, { method: 'POST', json: { EvidenceId: evidenceId }, retryable: true });
  }

  async createResource(
    evidenceId: string,
    input: { idempotencyKey: string; name: string; mimeType: string; startTimeUtc?: string; endTimeUtc?: string },
  ): Promise<{ resourceId: string; uploadUri: string }> {
    const body: ResourceCreate = {
      Name: input.name,
      MimeType: input.mimeType,
      ...(input.startTimeUtc ? { StartTimeUtc: input.startTimeUtc } : {}),
      ...(input.endTimeUtc ? { EndTimeUtc: input.endTimeUtc } : {}),
    };
    const r = await this.create<ResourceCreated>(`${this.tenant}/evidence/${seg(evidenceId)}/resource`, input.idempotencyKey, body);
    if (typeof r.UploadUri !== 'string' || !/^https?:\/\//.test(r.UploadUri)) {
      throw new Error(`The document store created resource ${r.ResourceId} without a usable UploadUri.`);
    }
    return { resourceId: r.ResourceId, uploadUri: r.UploadUri };
  }

  async completeResource(evidenceId: string, resourceId: string, input: { size: number; sha256: string }): Promise<void> {
    const body: ResourceComplete = { Size: input.size, Sha256: input.sha256 };
    // Completing again with the same size is accepted by the service: safe to retry.
    await this.session.call(`${this.tenant}/evidence/${seg(evidenceId)}/resource/${seg(resourceId)}/complete`, {
      method: 'POST',
      json: body,
      retryable: true,
      // The service decrypts and hashes the whole blob before it answers.
      timeoutMs: 10 * 60_000,
    });
  }

  async completeEvidence(evidenceId: string): Promise<void> {
    await this.session.call(`${this.tenant}/evidence/${seg(evidenceId)}/complete`, { method: 'POST', retryable: true });
  }

  async deleteEvidence(evidenceId: string): Promise<void> {
    await this.session.call(`${this.tenant}/evidence/${seg(evidenceId)}`, {
      method: 'DELETE',
      acceptStatus: (s) => (s >= 200 && s < 300) || s === 404,
    });
  }

  encryptionKey(): Promise<EncryptionKey | undefined> {
    if (this.disableEncryption) return Promise.resolve(undefined);
    if (!this.key) {
      const loading = this.fetchEncryptionKey();
      this.key = loading;
      // A failure is not remembered: the next upload asks again.
      loading.catch(() => {
        if (this.key === loading) this.key = undefined;
      });
    }
    return this.key;
  }

  private async fetchEncryptionKey(): Promise<EncryptionKey> {
    const body = await this.session.json<Partial<EncryptionKeyResponse>>(`${this.ks}/tenant/${seg(this.tenantId)}/keys/encryption`);
    if (typeof body.KeyId !== 'string' || body.KeyId === '') throw new Error('The key store answered an encryption key without KeyId.');
    if (body.Jwk && body.Jwk.kty === 'RSA' && body.Jwk.n && body.Jwk.e) return { keyId: body.KeyId, publicKey: { kty: 'RSA', n: body.Jwk.n, e: body.Jwk.e } };
    if (typeof body.Pem === 'string' && body.Pem.includes('PUBLIC KEY')) return { keyId: body.KeyId, publicKey: body.Pem };
    throw new Error(`The key store answered key ${body.KeyId} without an RSA public key (Jwk or Pem).`);
  }

  // ---- Reads for the console and the operator export ------------------------------------

  listDepartments(): Promise<Department[]> {
    return this.session.json<Department[]>(`${this.tenant}/departments`);
  }

  listCategories(): Promise<Category[]> {
    return this.session.json<Category[]>(`${this.tenant}/categories`);
  }

  /** The cases this integration may see. */
  listCases(): Promise<Case[]> {
    return this.session.json<Case[]>(this.cases);
  }

  getCase(caseId: string): Promise<Case> {
    return this.session.json<Case>(`${this.cases}/${seg(caseId)}`);
  }

  getEvidence(evidenceId: string): Promise<Evidence> {
    return this.session.json<Evidence>(`${this.tenant}/evidence/${seg(evidenceId)}`);
  }

  listResources(evidenceId: string): Promise<Resource[]> {
    return this.session.json<Resource[]>(`${this.tenant}/evidence/${seg(evidenceId)}/resource`);
  }
}
