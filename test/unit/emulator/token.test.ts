import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import fetch from 'node-fetch';
import type { ConnectionFile, OAuthErrorBody, TokenResponse } from '../../../src/core/clearance/api';
import { JWT_BEARER_GRANT_TYPE } from '../../../src/core/clearance/api';
import { clientIdOf, toSigningJwk } from '../../../src/core/clearance/assertion';
import { startHarness, type Harness } from './harness';

const TOKEN_LIFETIME = 120;

interface AssertionClaims {
  kid?: string;
  aud?: string;
  iat?: number;
  nbf?: number;
  exp?: number;
  jti?: string;
  key?: JWK;
}

describe('local service: token service (§4)', function () {
  this.timeout(30000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ tokenLifetimeSeconds: TOKEN_LIFETIME });
  });
  after(async () => h?.stop());

  const nowSeconds = (): number => Math.floor(h.clock.now().getTime() / 1000);

  async function assertion(c: ConnectionFile, claims: AssertionClaims = {}): Promise<string> {
    const key = await importJWK(claims.key ?? toSigningJwk(c.ServicePrincipalKey), 'RS256');
    const iat = claims.iat ?? nowSeconds();
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? c.ServicePrincipalKey.kid, typ: 'JWT' })
      .setIssuer(clientIdOf(c))
      .setSubject(clientIdOf(c))
      .setAudience(claims.aud ?? h.client.tokenUrl)
      .setJti(claims.jti ?? crypto.randomUUID())
      .setIssuedAt(iat)
      .setNotBefore(claims.nbf ?? iat)
      .setExpirationTime(claims.exp ?? iat + 300)
      .sign(key);
  }

  async function tokenWith(jwt: string, clientId = clientIdOf(h.connection)): Promise<{ status: number; body: TokenResponse & OAuthErrorBody }> {
    const res = await fetch(h.client.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, grant_type: JWT_BEARER_GRANT_TYPE, assertion: jwt }).toString(),
    });
    return { status: res.status, body: (await res.json()) as TokenResponse & OAuthErrorBody };
  }

  function assertOAuthError(a: { status: number; body: unknown }, status: number, error: string, description: RegExp): void {
    assert.equal(a.status, status, JSON.stringify(a.body));
    assert.deepEqual(Object.keys(a.body as object).sort(), ['error', 'error_description']);
    const b = a.body as OAuthErrorBody;
    assert.equal(b.error, error);
    assert.match(b.error_description ?? '', description);
  }

  it('issues a Bearer token of the configured lifetime for a good assertion', async () => {
    const a = await tokenWith(await assertion(h.connection));
    assert.equal(a.status, 200);
    assert.equal(a.body.token_type, 'Bearer');
    assert.equal(a.body.expires_in, TOKEN_LIFETIME);
  });

  it('refuses a wrong signature, an unknown kid, an expired or not-yet-valid assertion, a wrong audience and a replayed jti', async () => {
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JWK;
    assertOAuthError(await tokenWith(await assertion(h.connection, { key: other })), 401, 'invalid_client', /signature/);
    assertOAuthError(await tokenWith(await assertion(h.connection, { kid: 'urn:service:tenant-local:nobody:999' })), 401, 'invalid_client', /kid/);
    const t = nowSeconds();
    assertOAuthError(await tokenWith(await assertion(h.connection, { iat: t - 7200, exp: t - 3600 })), 400, 'invalid_grant', /expired/);
    assertOAuthError(await tokenWith(await assertion(h.connection, { iat: t, nbf: t + 600, exp: t + 900 })), 400, 'invalid_grant', /nbf/);
    assertOAuthError(await tokenWith(await assertion(h.connection, { aud: 'https://elsewhere.example/connect/token' })), 400, 'invalid_grant', /aud/);
    assertOAuthError(await tokenWith(await assertion(h.connection, { exp: t + 3 * 3600 })), 400, 'invalid_grant', /lifetime/);

    const once = await assertion(h.connection);
    assert.equal((await tokenWith(once)).status, 200);
    assertOAuthError(await tokenWith(once), 400, 'invalid_grant', /jti/);
  });

  it('refuses a malformed token request with an OAuth error body', async () => {
    const post = async (form: Record<string, string>, type = 'application/x-www-form-urlencoded') => {
      const res = await fetch(h.client.tokenUrl, { method: 'POST', headers: { 'content-type': type }, body: new URLSearchParams(form).toString() });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const jwt = await assertion(h.connection);
    assertOAuthError(await post({ client_id: clientIdOf(h.connection), assertion: jwt }), 400, 'invalid_request', /grant_type/);
    assertOAuthError(await post({ client_id: clientIdOf(h.connection), grant_type: 'password', assertion: jwt }), 400, 'unsupported_grant_type', /grant_type/);
    assertOAuthError(await post({ client_id: clientIdOf(h.connection), grant_type: JWT_BEARER_GRANT_TYPE }), 400, 'invalid_request', /assertion/);
    assertOAuthError(await post({ client_id: clientIdOf(h.connection), grant_type: JWT_BEARER_GRANT_TYPE, assertion: 'not.a.jwt' }), 400, 'invalid_grant', /JWT/);
    assertOAuthError(await post({ client_id: '999@tenant-local', grant_type: JWT_BEARER_GRANT_TYPE, assertion: jwt }), 401, 'invalid_client', /client_id/);
    assertOAuthError(await post({ grant_type: JWT_BEARER_GRANT_TYPE, assertion: jwt }, 'application/json'), 400, 'invalid_request', /Content-Type/);
  });

  it('answers 401 once the access token has lived its lifetime (injectable clock), and a new token works', async () => {
    const c = h.client;
    await c.login();
    const url = `${c.ds}/tenant/${c.tenantId}/categories`;
    assert.equal((await c.call('GET', url)).status, 200);
    h.clock.advance((TOKEN_LIFETIME + 1) * 1000);
    const expired = await c.call<OAuthErrorBody>('GET', url);
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error, 'invalid_token');
    assert.match(expired.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
    await c.login();
    assert.equal((await c.call('GET', url)).status, 200);

    const none = await fetch(url);
    assert.equal(none.status, 401);
    const forged = await fetch(url, { headers: { authorization: `Bearer ${c.token!.slice(0, -4)}AAAA` } });
    assert.equal(forged.status, 401);
  });

  it('serves the OpenID configuration, whose JWKS verifies the access tokens', async () => {
    for (const url of [h.emulator.urls.openIdConfiguration, `${h.emulator.baseUrl}/.well-known/openid-configuration`]) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      const conf = (await res.json()) as { token_endpoint: string; jwks_uri: string; grant_types_supported: string[] };
      assert.equal(conf.token_endpoint, h.client.tokenUrl);
      assert.ok(conf.grant_types_supported.includes(JWT_BEARER_GRANT_TYPE));
      const jwks = (await (await fetch(conf.jwks_uri)).json()) as JSONWebKeySet;
      const token = await h.client.login();
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { currentDate: h.clock.now() });
      assert.equal(payload.sub, clientIdOf(h.connection));
    }
  });
});
