// Builds connection files in the format of docs/clearance-api.md §3 around a freshly generated RSA key.
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';

let cached: JsonWebKey | undefined;
let cachedOther: JsonWebKey | undefined;

/** One 2048-bit private JWK per test run (key generation is the slow part). */
export function testJwk(): JsonWebKey {
  cached ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return cached;
}

export function otherJwk(): JsonWebKey {
  cachedOther ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return cachedOther;
}

export const TEST_API_KEY = 'apikey-7f3a9c1e-THIS-IS-SECRET';

export function connectionFile(options: { tenant?: string; name?: string; id?: string; jwk?: JsonWebKey } = {}): Record<string, unknown> {
  const tenant = options.tenant ?? 'tenant123';
  const name = options.name ?? 'SiteA';
  const id = options.id ?? '151';
  const jwk = options.jwk ?? testJwk();
  const base = (svc: string): string[] => [`https://${tenant}-${svc}.clearance.example/api/v1/`];
  return {
    DocumentStoreBaseAddresses: base('ds'),
    SecurityTokenServiceBaseAddresses: [`https://${tenant}-sts.clearance.example/connect`],
    KeyStoreBaseAddresses: base('ks'),
    DeviceServiceBaseAddresses: base('dev'),
    CaseServiceBaseAddresses: base('case'),
    SearchServiceBaseAddresses: base('search'),
    UserServiceBaseAddresses: base('user'),
    ApiBaseAddresses: [`https://${tenant}-api.clearance.example`],
    CADApiAddresses: [],
    APIKey: TEST_API_KEY,
    CertificateThumbprints: ['3F2A9C1E5B7D4E6F8A0B1C2D3E4F5A6B7C8D9E0F'],
    DisableEncryption: false,
    ServicePrincipalId: id,
    ServicePrincipalKey: {
      kid: `urn:service:${tenant}:${name}:${id}`,
      kty: 'RSA',
      n: jwk.n,
      e: jwk.e,
      d: jwk.d,
      p: jwk.p,
      q: jwk.q,
      dp: jwk.dp,
      dq: jwk.dq,
      qi: jwk.qi,
      k: null,
      use: 'sig',
      x5t: null,
      nbf: '0001-01-01T00:00:00',
      exp: '0001-01-01T00:00:00',
    },
    TenantId: tenant,
  };
}

/** The .NET serializer writes with two-space indentation and CRLF line ends. */
export function toFileText(file: unknown): string {
  return JSON.stringify(file, null, 2).replace(/\n/g, '\r\n');
}

/** Every secret string of a connection file (to prove none leaks into messages). */
export function secretValues(jwk: JsonWebKey = testJwk()): string[] {
  return [TEST_API_KEY, ...(['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((k) => String(jwk[k]))];
}
