// The local service's HTTP API as an integration signed in with its connection
// file (a JWT-bearer assertion signed with the integration's key): what
// `npm start` files demo requests with and what the e2e tests read evidence with.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export async function serviceApi(connectionFile, baseUrl) {
  const { importJWK, SignJWT } = await import('jose');
  const connection = JSON.parse(readFileSync(connectionFile, 'utf8'));
  const base = baseUrl.replace(/\/+$/, '');
  const tokenUrl = `${base}/connect/token`;
  const clientId = `${connection.ServicePrincipalId}@${connection.TenantId}`;
  const t = encodeURIComponent(connection.TenantId);
  let token;
  const login = async () => {
    const { kty, n, e, d, p, q, dp, dq, qi } = connection.ServicePrincipalKey;
    const key = await importJWK({ kty, n, e, d, p, q, dp, dq, qi }, 'RS256');
    const iat = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: connection.ServicePrincipalKey.kid, typ: 'JWT' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + 300)
      .sign(key);
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, grant_type: JWT_BEARER, assertion }).toString(),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`token request failed (${res.status}): ${body.error_description ?? body.error}`);
    token = { value: body.access_token, until: Date.now() + Math.min(600, Number(body.expires_in ?? 600) / 2) * 1000 };
  };
  /** The response of one call; a refused token is renewed once. */
  const send = async (method, route, body, again = true) => {
    if (!token || Date.now() > token.until) await login();
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${token.value}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    if (res.status === 401 && again) {
      token = undefined;
      return send(method, route, body, false);
    }
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
    return res;
  };
  const json = async (method, route, body) => {
    const text = await (await send(method, route, body)).text();
    return text ? JSON.parse(text) : undefined;
  };
  const id = encodeURIComponent;
  return {
    tenantId: connection.TenantId,
    json: (route) => json('GET', route),
    registry: () => json('GET', `/deviceservice/api/v1/tenant/${t}/registry/cameras`),
    fileRequest: (body) => json('POST', `/admin/api/v1/tenant/${t}/requests`, body),
    /** The requester cancels a request, with the reason the site is told. */
    cancelRequest: (requestId, reason) => json('POST', `/admin/api/v1/tenant/${t}/requests/${id(requestId)}/cancel`, { reason }),
    request: (requestId) => json('GET', `/agentservice/api/v1/tenant/${t}/requests/${id(requestId)}`),
    evidence: (evidenceId) => json('GET', `/documentstore/api/v1/tenant/${t}/evidence/${id(evidenceId)}`),
    resources: (evidenceId) => json('GET', `/documentstore/api/v1/tenant/${t}/evidence/${id(evidenceId)}/resource`),
    /** SHA-256 of a resource's plain content: the service decrypts it with the account's key. */
    contentSha256: async (evidenceId, resourceId) => {
      const res = await send('GET', `/documentstore/api/v1/tenant/${t}/evidence/${id(evidenceId)}/resource/${id(resourceId)}/content`);
      return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
    },
  };
}
