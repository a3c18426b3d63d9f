// The client assertion of the JWT-bearer grant (RFC 7523, docs/clearance-api.md §4 [ours]).
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { ConnectionFile, ServicePrincipalKey } from './api';

/** Lifetime of an assertion; the service refuses longer ones. */
export const ASSERTION_LIFETIME_SECONDS = 300;

/** What signing in needs: a whole ConnectionFile fits, and so does AccountStore.signingCredentials(). */
export type SigningCredentials = Pick<ConnectionFile, 'ServicePrincipalId' | 'TenantId' | 'ServicePrincipalKey'>;

/** `<ServicePrincipalId>@<TenantId>`: client_id, iss and sub of the assertion. */
export function clientIdOf(connection: Pick<ConnectionFile, 'ServicePrincipalId' | 'TenantId'>): string {
  return `${connection.ServicePrincipalId}@${connection.TenantId}`;
}

/** The RSA members of the key, without the .NET extras (k, use, x5t, nbf, exp) jose would reject. */
export function toSigningJwk(key: ServicePrincipalKey): JWK {
  const { kty, n, e, d, p, q, dp, dq, qi } = key;
  return { kty, n, e, d, p, q, dp, dq, qi };
}

/** Signs a fresh assertion (new jti) for the token endpoint at `tokenUrl`. */
export async function createClientAssertion(connection: SigningCredentials, tokenUrl: string, now: Date): Promise<string> {
  const key = await importJWK(toSigningJwk(connection.ServicePrincipalKey), 'RS256');
  const clientId = clientIdOf(connection);
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: connection.ServicePrincipalKey.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
    .sign(key);
}
