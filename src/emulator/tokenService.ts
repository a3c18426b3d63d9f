// The security token service: the JWT-bearer grant (RFC 7523) and the
// verification of the Bearer access tokens it issues.
import * as crypto from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { TokenResponse } from '../core/clearance/api';
import { JWT_BEARER_GRANT_TYPE } from '../core/clearance/api';
import type { Accounts, IntegrationRecord } from './accounts';
import type { Clock } from './clock';
import { HttpError } from './http';
import type { Collection } from './metadataStore';

/** Longest assertion lifetime accepted (exp - iat), plus clock skew. */
const MAX_ASSERTION_SECONDS = 3600;
const SKEW_SECONDS = 60;
const ACCESS_TOKEN_AUDIENCE = 'clearance-api';

export interface Principal {
  clientId: string;
  tenantId: string;
  servicePrincipalId: string;
  name: string;
  kid: string;
  tokenId: string;
  expiresAt: Date;
}

interface SigningKeyRecord {
  kid: string;
  privateJwk: crypto.JsonWebKey;
}

interface UsedAssertion {
  expiresUtc: string;
}

const oauth = (status: number, error: string, description: string): HttpError =>
  new HttpError(status, error, description, { oauth: true });

export class TokenService {
  private signingKey!: crypto.KeyObject;
  private verifyKey!: crypto.KeyObject;
  private signingKid = '';
  /** Tokens cut short by the early-expiry fault. */
  private readonly revoked = new Set<string>();

  constructor(
    private readonly accounts: Accounts,
    private readonly keys: Collection<SigningKeyRecord>,
    private readonly usedAssertions: Collection<UsedAssertion>,
    private readonly clock: Clock,
    private readonly lifetimeSeconds: number,
  ) {}

  async init(): Promise<void> {
    let rec = this.keys.get('sts');
    if (!rec) {
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      rec = { kid: `sts-${crypto.randomUUID()}`, privateJwk: privateKey.export({ format: 'jwk' }) };
      await this.keys.put('sts', rec);
    }
    this.signingKid = rec.kid;
    this.signingKey = crypto.createPrivateKey({ key: rec.privateJwk, format: 'jwk' });
    this.verifyKey = crypto.createPublicKey(this.signingKey);
  }

  /** Public keys of the access tokens (served as the JWKS). */
  jwks(): { keys: crypto.JsonWebKey[] } {
    return { keys: [{ ...this.verifyKey.export({ format: 'jwk' }), kid: this.signingKid, use: 'sig', alg: 'RS256' }] };
  }

  /** Handles the token request form; `audiences` are the URLs this token endpoint answers to. */
  async issue(form: Record<string, string>, audiences: string[]): Promise<TokenResponse> {
    if (form.grant_type === undefined) throw oauth(400, 'invalid_request', 'grant_type is required');
    if (form.grant_type !== JWT_BEARER_GRANT_TYPE) throw oauth(400, 'unsupported_grant_type', `grant_type must be ${JWT_BEARER_GRANT_TYPE}`);
    if (!form.assertion) throw oauth(400, 'invalid_request', 'assertion is required');
    if (!form.client_id) throw oauth(400, 'invalid_request', 'client_id is required');
    if (form.assertion.length > 16384) throw oauth(400, 'invalid_request', 'assertion is too long');

    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(form.assertion);
      if (header.alg !== 'RS256') throw oauth(400, 'invalid_grant', 'assertion must be signed with RS256');
      kid = header.kid;
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw oauth(400, 'invalid_grant', 'assertion is not a JWT');
    }
    if (!kid) throw oauth(400, 'invalid_grant', 'assertion header has no kid');
    const integration = this.accounts.integrationByKid(kid);
    if (!integration) throw oauth(401, 'invalid_client', 'unknown key id (kid)');
    if (integration.clientId !== form.client_id) throw oauth(401, 'invalid_client', 'client_id does not match the key id');

    const now = this.clock.now();
    let payload;
    try {
      const key = crypto.createPublicKey({ key: integration.publicJwk, format: 'jwk' });
      ({ payload } = await jwtVerify(form.assertion, key, {
        algorithms: ['RS256'],
        audience: audiences,
        issuer: integration.clientId,
        subject: integration.clientId,
        currentDate: now,
        clockTolerance: SKEW_SECONDS,
        requiredClaims: ['jti', 'exp', 'iat', 'aud', 'iss', 'sub'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw oauth(401, 'invalid_client', 'assertion signature does not verify');
      if (err instanceof joseErrors.JWTExpired) throw oauth(400, 'invalid_grant', 'assertion has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw oauth(400, 'invalid_grant', `assertion claim ${err.claim}: ${err.reason}`);
      throw oauth(400, 'invalid_grant', 'assertion is not valid');
    }
    const exp = payload.exp as number;
    const iat = payload.iat as number;
    if (exp - iat > MAX_ASSERTION_SECONDS || exp > now.getTime() / 1000 + MAX_ASSERTION_SECONDS + SKEW_SECONDS) {
      throw oauth(400, 'invalid_grant', 'assertion lifetime exceeds 1 hour');
    }
    const jtiKey = `${integration.clientId}:${String(payload.jti)}`;
    if (this.usedAssertions.get(jtiKey)) throw oauth(400, 'invalid_grant', 'assertion jti was already used');
    await this.usedAssertions.put(jtiKey, { expiresUtc: new Date((exp + SKEW_SECONDS) * 1000).toISOString() });
    return this.mint(integration, now);
  }

  private async mint(integration: IntegrationRecord, now: Date): Promise<TokenResponse> {
    const iat = Math.floor(now.getTime() / 1000);
    const accessToken = await new SignJWT({ tid: integration.tenantId, spid: integration.servicePrincipalId, name: integration.name })
      .setProtectedHeader({ alg: 'RS256', kid: this.signingKid, typ: 'at+jwt' })
      .setIssuer('clearance-emulator')
      .setSubject(integration.clientId)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setJti(crypto.randomUUID())
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + this.lifetimeSeconds)
      .sign(this.signingKey);
    return { access_token: accessToken, expires_in: this.lifetimeSeconds, token_type: 'Bearer' };
  }

  /** Checks an Authorization header; 401 with a WWW-Authenticate challenge otherwise. */
  async verify(authorization: string | undefined): Promise<Principal> {
    const challenge = (error: string, description: string): HttpError =>
      new HttpError(401, error, description, {
        oauth: true,
        headers: { 'www-authenticate': `Bearer error="${error}", error_description="${description}"` },
      });
    const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(authorization ?? '');
    if (!m) throw challenge('invalid_request', 'a Bearer access token is required');
    let payload;
    try {
      ({ payload } = await jwtVerify(m[1], this.verifyKey, {
        algorithms: ['RS256'],
        audience: ACCESS_TOKEN_AUDIENCE,
        currentDate: this.clock.now(),
        requiredClaims: ['jti', 'exp', 'sub', 'tid'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw challenge('invalid_token', 'the access token expired');
      throw challenge('invalid_token', 'the access token is not valid');
    }
    const jti = String(payload.jti);
    if (this.revoked.has(jti)) throw challenge('invalid_token', 'the access token expired');
    const integration = this.accounts.integration(String(payload.sub));
    if (!integration) throw challenge('invalid_token', 'the integration of this token no longer exists');
    return {
      clientId: integration.clientId,
      tenantId: integration.tenantId,
      servicePrincipalId: integration.servicePrincipalId,
      name: integration.name,
      kid: integration.kid,
      tokenId: jti,
      expiresAt: new Date((payload.exp as number) * 1000),
    };
  }

  /** Ends a token before its time (the early-expiry fault). */
  expireEarly(tokenId: string): void {
    this.revoked.add(tokenId);
  }

  /** Forgets used assertion ids whose assertion has expired anyway. */
  async sweep(): Promise<void> {
    const now = this.clock.now().getTime();
    const expired = [...this.usedAssertions.scan()].filter(([, rec]) => Date.parse(rec.expiresUtc) < now).map(([id]) => id);
    for (const id of expired) await this.usedAssertions.delete(id);
  }
}
