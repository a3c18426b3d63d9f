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

/** [doc] Video request statuses (plugin guide). */
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
