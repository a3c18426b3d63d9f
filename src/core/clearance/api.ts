// The wire shapes of the Clearance service, shared by the client (src/core) and
// the local service (src/emulator) so the two cannot drift apart.
// Each shape is marked [doc] (published by the vendor) or [ours] (our choice
// until the real shape is known). Keep every [ours] shape in this file.

/** [doc] RSA JSON Web Key as found in a connection file (with .NET-style extras). */
export interface ServicePrincipalKey {
  kid: string; // urn:service:<tenant>:<name>:<id>
  kty: 'RSA';
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
  k?: string | null;
  use?: string | null;
  x5t?: string | null;
  nbf?: string | null; // .NET date, e.g. "0001-01-01T00:00:00"
  exp?: string | null;
  [extra: string]: unknown;
}

/** [doc] The JSON connection file an administrator downloads for an integration. */
export interface ConnectionFile {
  DocumentStoreBaseAddresses: string[];
  SecurityTokenServiceBaseAddresses: string[];
  KeyStoreBaseAddresses: string[];
  DeviceServiceBaseAddresses: string[];
  CaseServiceBaseAddresses: string[];
  SearchServiceBaseAddresses: string[];
  UserServiceBaseAddresses: string[];
  ApiBaseAddresses: string[];
  CADApiAddresses: string[];
  APIKey: string;
  CertificateThumbprints: string[];
  DisableEncryption: boolean;
  ServicePrincipalId: string;
  ServicePrincipalKey: ServicePrincipalKey;
  TenantId: string;
}

/** Keys of ConnectionFile whose values are lists of base URLs. */
export const BASE_ADDRESS_KEYS = [
  'DocumentStoreBaseAddresses',
  'SecurityTokenServiceBaseAddresses',
  'KeyStoreBaseAddresses',
  'DeviceServiceBaseAddresses',
  'CaseServiceBaseAddresses',
  'SearchServiceBaseAddresses',
  'UserServiceBaseAddresses',
  'ApiBaseAddresses',
  'CADApiAddresses',
] as const satisfies readonly (keyof ConnectionFile)[];

/** [doc] Video request statuses (plugin guide, docs/clearance-api.md §1.8). */
export const VIDEO_REQUEST_STATUSES = [
  'Pending',
  'Processing',
  'Completed',
  'PartiallyCompleted',
  'Denied',
  'Canceled',
  'VideoUnavailable',
] as const;
export type VideoRequestStatus = (typeof VIDEO_REQUEST_STATUSES)[number];

/** [doc] Agent job types of the registry agent service. */
export const AGENT_JOB_TYPES = ['mediarequest', 'discovery', 'thumbnail'] as const;
export type AgentJobType = (typeof AGENT_JOB_TYPES)[number];

// ---------------------------------------------------------------------------
// Token service (docs/clearance-api.md §4)

/** [doc] RFC 7523 grant type of the token request. */
export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** [doc] Form fields of POST {STS}/token. */
export interface TokenRequestForm {
  client_id: string; // <ServicePrincipalId>@<TenantId>
  grant_type: typeof JWT_BEARER_GRANT_TYPE;
  assertion: string;
}

/** [ours] Answer of the token endpoint. */
export interface TokenResponse {
  access_token: string;
  expires_in: number;
  token_type: 'Bearer';
}

/** [doc] OAuth 2 error body (RFC 6749 §5.2). */
export interface OAuthErrorBody {
  error: string;
  error_description?: string;
}

/** [ours] Error body of every other route; `field` names the offending input. */
export interface ServiceErrorBody {
  error: string;
  message: string;
  field?: string;
}

// ---------------------------------------------------------------------------
// Key store and client-side encryption (docs/clearance-api.md §6)

/** [doc] WrappedContentKey of the encryption metadata. */
export interface WrappedContentKey {
  Algorithm: 'RSA-OAEP';
  EncryptedKey: string; // base64
  KeyId: string;
}

/** [doc] Value of the x-ms-meta-encryptiondata blob header (Azure client-side encryption v1.0). */
export interface EncryptionData {
  ContentEncryptionIV: string; // base64, 16 bytes
  EncryptionAgent: { EncryptionAlgorithm: 'AES_CBC_256'; Protocol: '1.0' };
  EncryptionMode: 'FullBlob';
  WrappedContentKey: WrappedContentKey;
}

/** [ours] GET {KeyStore}/tenant/{t}/keys/encryption: the account's public encryption key. */
export interface EncryptionKeyResponse {
  KeyId: string;
  Algorithm: 'RSA-OAEP';
  Jwk: { kty: 'RSA'; n: string; e: string; kid: string; alg: 'RSA-OAEP'; use: 'enc' };
  Pem: string;
}

// ---------------------------------------------------------------------------
// Document store (docs/clearance-api.md §5)

/** [doc] Permission levels on a case or file, lowest first. */
export const PERMISSION_LEVELS = ['ViewOnly', 'ViewAndDownload', 'Edit', 'Manage'] as const;
export type PermissionLevel = (typeof PERMISSION_LEVELS)[number];

/** [doc] Who an access policy grants to. */
export const PRINCIPAL_TYPES = ['Integration', 'User', 'Group', 'Department'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/** [doc] fields / [ours] shape: one entry of AccessPolicies. */
export interface AccessPolicy {
  PrincipalId: string; // for an integration: <ServicePrincipalId>@<TenantId>
  PrincipalType: PrincipalType;
  Permission: PermissionLevel;
}

/** [doc] Device{…} of an evidence item ([ours] members). */
export interface EvidenceDevice {
  DeviceId?: string;
  Name?: string;
  Type?: string;
}

/** [doc] The writable fields of an evidence item (body of POST …/tenant/{t}/evidence [ours]). */
export interface EvidenceCreate {
  Name: string;
  Description?: string;
  StartTimeUtc?: string;
  EndTimeUtc?: string;
  CategoryId?: string;
  Tags?: string[];
  LocationText?: string;
  LocationWKT?: string;
  Device?: EvidenceDevice;
  AccessPolicies?: AccessPolicy[];
  CustomFields?: Record<string, string>;
}

/** [ours] states of an evidence item and of a resource. */
export type EvidenceState = 'Incomplete' | 'Complete';
export type ResourceState = 'Pending' | 'Complete';

/** [doc] An evidence item. */
export interface Evidence extends EvidenceCreate {
  EvidenceId: string;
  State: EvidenceState;
  ConcurrencyId: string;
  CreatedTimeUtc: string; // [ours]
  CompletedTimeUtc: string | null; // [ours]
  CaseIds: string[]; // [ours]
}

/** [doc] UploadedBy of a resource. */
export interface UploadedBy {
  KId: string;
  Username: string;
  PrincipalId: string;
  PrincipalType: PrincipalType;
}

/** [ours] Body of POST …/evidence/{id}/resource. */
export interface ResourceCreate {
  Name: string;
  MimeType: string;
  StartTimeUtc?: string;
  EndTimeUtc?: string;
  TimeOffset?: number;
  Parent?: string;
  Thumbnail?: string;
}

/** [doc] A resource (file) of an evidence item. */
export interface Resource {
  ResourceId: string;
  EvidenceId: string;
  Name: string;
  MimeType: string;
  StartTimeUtc: string | null;
  EndTimeUtc: string | null;
  TimeOffset: number;
  UploadedTimeUtc: string | null;
  UploadedBy: UploadedBy;
  Parent: string | null;
  Thumbnail: string | null;
  UploadCertificateThumbprint: string | null;
  State: ResourceState;
  Size: number | null; // [ours] committed blob size once complete
}

/** [ours] Answer of resource creation: the resource plus where to upload. */
export interface ResourceCreated extends Resource {
  UploadUri: string; // blob URI with a SAS token (create + write)
  UploadUriExpiresUtc: string;
}

/** [ours] Body of POST …/resource/{rid}/complete. */
export interface ResourceComplete {
  /** Bytes of the committed blob (the ciphertext when encrypted). */
  Size: number;
  /** Optional SHA-256 of the plain file (hex or base64); the service checks it after decrypting. */
  Sha256?: string;
}

/** [ours] states of a case. */
export type CaseState = 'Open' | 'Closed';

/** [ours] Body of POST {DocumentStore}/case/{t}. */
export interface CaseCreate {
  Name: string;
  Description?: string;
  DepartmentId?: string;
  CategoryId?: string;
  IncidentTimeUtc?: string;
  CaseInfo?: string;
  AccessPolicies?: AccessPolicy[];
}

/** [doc] read path, [ours] shape: a case. */
export interface Case extends CaseCreate {
  CaseId: string;
  State: CaseState;
  EvidenceIds: string[];
  AccessPolicies: AccessPolicy[];
  CreatedTimeUtc: string;
  CreatedBy: string;
}

/** [ours] Body of POST {DocumentStore}/case/{t}/{caseId}/evidence. */
export interface CaseLinkEvidence {
  EvidenceId: string;
}

/** [doc] concept, [ours] shape. */
export interface Department {
  DepartmentId: string;
  Name: string;
}

/** [doc] A category: incident type plus retention policy. */
export interface Category {
  CategoryId: string;
  Name: string;
  RetentionDays: number;
}

// ---------------------------------------------------------------------------
// Registry and agent service (docs/clearance-api.md §7, every shape [ours])

/** [ours] A camera published to the registry. */
export interface RegistryCamera {
  id: string;
  name: string;
  location?: string;
  owner: string; // agent id that published it
}

/** [ours] What an agent reports per camera in a discovery result. */
export interface DiscoveredCamera {
  id: string;
  name: string;
  location?: string;
}

export const AGENT_JOB_STATES = ['Open', 'Locked', 'Completed', 'Failed', 'Canceled'] as const;
export type AgentJobState = (typeof AGENT_JOB_STATES)[number];

/** [ours] Payload of a mediarequest job. */
export interface MediaRequestJobPayload {
  requestId: string;
  cameras: { id: string; name: string }[];
  fromUtc: string;
  toUtc: string;
  incidentTimeUtc: string;
  comments: string;
  caseId: string | null;
  /** [ours] Who asked (an investigator's sign-in name); older services may leave it out. */
  requester?: string;
}

/** [ours] Payload of a thumbnail job. */
export interface ThumbnailJobPayload {
  cameraId: string;
  timeUtc: string | null; // null: live image
}

/** [ours] Payload of a discovery job (nothing to say). */
export type DiscoveryJobPayload = Record<string, never>;

export const CAMERA_OUTCOMES = ['Exported', 'Unavailable', 'Failed'] as const;
export type CameraOutcome = (typeof CAMERA_OUTCOMES)[number];

/** [ours] Final statuses an agent may report for a mediarequest job. */
export const MEDIA_REQUEST_RESULT_STATUSES = ['Completed', 'PartiallyCompleted', 'VideoUnavailable', 'Denied'] as const;
export type MediaRequestResultStatus = (typeof MEDIA_REQUEST_RESULT_STATUSES)[number];

/** [ours] Result body of a mediarequest job. */
export interface MediaRequestJobResult {
  status: MediaRequestResultStatus;
  evidenceIds: string[];
  cameras: { cameraId: string; outcome: CameraOutcome; evidenceId?: string; message?: string }[];
  caseId?: string;
  comments?: string;
}

/** [ours] Result body of a discovery job: the cameras the site publishes. */
export interface DiscoveryJobResult {
  cameras: DiscoveredCamera[];
}

/** [ours] Result body of a thumbnail job (a small still image). */
export interface ThumbnailJobResult {
  mimeType: string;
  dataBase64: string;
}

export type AgentJobPayload = MediaRequestJobPayload | DiscoveryJobPayload | ThumbnailJobPayload;
export type AgentJobResult = MediaRequestJobResult | DiscoveryJobResult | ThumbnailJobResult;

/** [ours] An agent job. */
export interface AgentJob {
  jobId: string;
  type: AgentJobType;
  state: AgentJobState;
  createdUtc: string;
  notBeforeUtc: string;
  lockedBy: string | null;
  leaseExpiresUtc: string | null;
  taskProgress: number | null;
  taskTotal: number | null;
  payload: AgentJobPayload;
  result: AgentJobResult | null;
  failureReason: string | null;
}

/** [ours] Body of POST …/jobs/{id}/lock. agentId defaults to the caller's client_id. */
export interface JobLockRequest {
  agentId?: string;
  leaseSeconds?: number;
}

/** [ours] Body of POST …/jobs/{id}/progress (also renews the lease). */
export interface JobProgressRequest {
  agentId?: string;
  taskProgress: number;
  taskTotal: number;
}

/** [ours] Body of POST …/jobs/{id}/complete. */
export interface JobCompleteRequest {
  agentId?: string;
  result: AgentJobResult;
}

/** [ours] Body of POST …/jobs/{id}/fail. retryable: the job opens again. */
export interface JobFailRequest {
  agentId?: string;
  reason: string;
  retryable?: boolean;
}

// ---------------------------------------------------------------------------
// Video requests ([doc] statuses, [ours] shapes)

/** [ours] Body that files a video request. */
export interface VideoRequestCreate {
  cameras: string[]; // registry camera ids
  fromUtc: string;
  toUtc: string; // toUtc - fromUtc <= 24 h
  incidentTimeUtc?: string; // defaults to fromUtc
  comments?: string;
  caseId?: string;
  requester?: string;
}

/** [ours] A video request as the service keeps it. */
export interface VideoRequest {
  requestId: string;
  status: VideoRequestStatus;
  cameras: string[];
  fromUtc: string;
  toUtc: string;
  incidentTimeUtc: string;
  comments: string;
  caseId: string | null;
  requester: string;
  jobId: string;
  evidenceIds: string[];
  cameraOutcomes: MediaRequestJobResult['cameras'];
  createdUtc: string;
  updatedUtc: string;
  history: { status: VideoRequestStatus; atUtc: string; reason?: string }[];
}

// ---------------------------------------------------------------------------
// Idempotent creation and evidence cancel ([ours])

/**
 * [ours] Request header that makes POST case, evidence and resource creation
 * idempotent: the same key from the same integration on the same route answers
 * the object the first call created (200 instead of 201, header
 * `Idempotent-Replayed: true`) and never creates a second one. 1-255 visible
 * ASCII characters. Reusing a key with a different path or body: 422. The
 * object made with the key was deleted or purged since: 410.
 */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7E]{1,255}$/;
/** [ours] Response header set when an answer replays an earlier creation. */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

// DELETE {DocumentStore}/tenant/{t}/evidence/{id} [ours]: cancels evidence that
// is still Incomplete (204; 409 once Complete; 404 when unknown), removing its
// resources and their blobs. Needs Manage on the evidence.

// GET {DocumentStore}/tenant/{t}/evidence/{id}/resource/{rid}/content [ours]:
// the plain (decrypted) file of a Complete resource, application/octet-stream.
// Needs ViewAndDownload on the evidence (or on a case holding it).

// ---------------------------------------------------------------------------
// Local service administration ([ours]; the real service has no such routes)

/** [ours] Kinds of injected faults. */
export const EMULATOR_FAULT_KINDS = ['status', 'latency', 'reset', 'tokenExpiry', 'blockReject'] as const;
export type EmulatorFaultKind = (typeof EMULATOR_FAULT_KINDS)[number];

/** [ours] Body of POST /admin/api/v1/faults. */
export interface EmulatorFaultSpec {
  /** Route name ("resource.complete", "blob.putBlock"), "prefix.*", or "*". */
  route: string;
  kind: EmulatorFaultKind;
  /** status: 429, 500 or 503; blockReject: the Azure status (default 400). */
  status?: number;
  /** Retry-After seconds (429/503: default 1; 500: only when given). */
  retryAfterSeconds?: number;
  /** latency: milliseconds added before the route runs. */
  latencyMs?: number;
  /** blockReject: the Azure error code (default Md5Mismatch). */
  code?: string;
  /** How many times it fires; unlimited when absent. */
  count?: number;
}

/** [ours] A fault as GET /admin/api/v1/faults lists it. */
export interface EmulatorFault extends EmulatorFaultSpec {
  id: string;
  fired: number;
}

/** [ours] What the blob gateway saw of one blob since the last reset. */
export interface BlobPutStats {
  /** Put Block requests that reached the gateway (answered or not). */
  putBlock: number;
  /** Put Block List requests that reached the gateway. */
  putBlockList: number;
  /** Body bytes of Put Block requests received by the gateway. */
  bytes: number;
  /** Times each block id (base64, as sent) was Put. */
  blockIds: Record<string, number>;
}

/**
 * [ours] GET /admin/api/v1/blob/puts (DELETE resets). Keys are blob paths:
 * `<container>/<blob name>`, decoded, i.e. the upload URI's path after the
 * account segment ("evidence-tenant-local/<EvidenceId>/<ResourceId>").
 */
export interface BlobPutsResponse {
  blobs: Record<string, BlobPutStats>;
}

/**
 * [ours] GET /admin/api/v1/blob/received[?blob=<path>]: Put Block body bytes
 * received by the gateway per time bucket (wall clock), non-empty buckets only.
 */
export interface BlobReceivedTimeline {
  bucketMs: number;
  points: { atMs: number; bytes: number }[];
}
