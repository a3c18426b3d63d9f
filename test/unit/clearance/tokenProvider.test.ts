// Tokens from the local Clearance service (docs/clearance-api.md §4): the account imported from the service's
// own connection file signs the JWT-bearer assertion; short-lived tokens are renewed at
// half their lifetime; callers at once share one request. The provider's clock is a
// ManualClock moved together with the service's, so no test waits for a token to age.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Keyv from 'keyv';
import type { ConnectionFile } from '../../../src/core/clearance/api';
import { TokenProvider, TokenRequestError, type Credentials } from '../../../src/core/clearance/tokenProvider';
import { AccountStore } from '../../../src/core/config/accountStore';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { ManualClock } from '../../../src/core/net/clock';
import { NetworkError, ServiceError } from '../../../src/core/net/errors';
import { HttpClient } from '../../../src/core/net/httpClient';
import { ManualClock as ServiceClock } from '../../../src/emulator/clock';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server';

const START = Date.UTC(2025, 2, 1, 9, 0, 0);
const LIFETIME_S = 4;

describe('TokenProvider against the local service', function () {
  this.timeout(30_000);
  let dir: string;
  let service: RunningEmulator;
  let serviceClock: ServiceClock;
  let connection: ConnectionFile;
  let accounts: AccountStore;
  let http: HttpClient;
  let clock: ManualClock;
  let tokenUrl: string;

  /** Moves the provider's time and the service's together. */
  const advance = (ms: number): void => {
    clock.advance(ms);
    serviceClock.advance(ms);
  };
  const provider = (credentials: () => Promise<Credentials> = () => accounts.signingCredentials()): TokenProvider =>
    new TokenProvider(http, tokenUrl, credentials, clock);
  /** The service's verdict on a token, asked directly (no session, no retry on 401). */
  const statusWith = async (token: string): Promise<number> => {
    const res = await http.request(`${connection.KeyStoreBaseAddresses[0]}/tenant/${connection.TenantId}/keys/encryption`, {
      headers: { Authorization: `Bearer ${token}` },
      acceptStatus: () => true,
    });
    return res.status;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-tokens-'));
    serviceClock = new ServiceClock(new Date(START));
    service = await startEmulator({ location: path.join(dir, 'service'), clock: serviceClock, tokenLifetimeSeconds: LIFETIME_S, log: () => undefined });
    const text = fs.readFileSync(service.connectionFilePath, 'utf8');
    connection = JSON.parse(text) as ConnectionFile;
    accounts = new AccountStore({ state: new Keyv(), secrets: new FileSecretStore(path.join(dir, 'secrets.json')), now: () => new Date(START) });
    const imported = await accounts.importConnectionFile(text, service.connectionFilePath);
    assert.ok(imported.ok, JSON.stringify(imported));
    tokenUrl = TokenProvider.tokenUrlFor(imported.account.baseAddresses.SecurityTokenServiceBaseAddresses[0] as string);
    http = await HttpClient.create({ clock: new ManualClock(START), retry: { maxAttempts: 3 } });
  });
  after(async () => {
    http?.close();
    await service?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    clock = new ManualClock(serviceClock.now().getTime(), false);
    service.faults.clear();
  });

  it('gets a token with the imported account: the assertion is signed with the key from the secret store', async () => {
    assert.equal(tokenUrl, `${connection.SecurityTokenServiceBaseAddresses[0]}/token`);
    const tokens = provider();
    const token = await tokens.token();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(tokens.requests, 1);
    assert.equal(tokens.renewsAt, clock.now() + (LIFETIME_S * 1000) / 2);
    assert.equal(await statusWith(token), 200);
  });

  it('renews a short-lived token at half its lifetime, before the service would refuse it', async () => {
    const tokens = provider();
    const first = await tokens.token();
    advance(1_900);
    assert.equal(await tokens.token(), first, 'still in the first half: same token, no request');
    assert.equal(tokens.requests, 1);

    advance(200); // 2.1 s: past half of 4 s
    const second = await tokens.token();
    assert.notEqual(second, first);
    assert.equal(tokens.requests, 2);

    advance(2_000); // 4.1 s: the first token has expired at the service; the second has not
    assert.equal(await statusWith(first), 401);
    assert.equal(await statusWith(second), 200);
    const third = await tokens.token(); // and the second is itself past half its life
    assert.notEqual(third, second);
    assert.equal(tokens.requests, 3);
  });

  it('sends one request for any number of callers at once, and one caller giving up does not cancel it for the others', async () => {
    const tokens = provider();
    const quitter = new AbortController();
    const waiting = Array.from({ length: 8 }, () => tokens.token());
    const leaving = tokens.token(quitter.signal);
    quitter.abort();
    await assert.rejects(leaving, { name: 'AbortError' });
    const got = await Promise.all(waiting);
    assert.equal(new Set(got).size, 1);
    assert.equal(tokens.requests, 1);
    assert.equal(await statusWith(got[0] as string), 200);
  });

  it('signs a fresh assertion for each attempt: a token answer lost in transit is retried, not refused as a replay', async () => {
    // "reset": the service issues the token (and records the assertion's jti), then the answer is cut.
    service.faults.add({ route: 'token', kind: 'reset', count: 1 });
    const tokens = provider();
    const token = await tokens.token();
    assert.equal(await statusWith(token), 200);
    assert.equal(tokens.requests, 1);
    assert.equal(service.faults.list().length, 0, 'the fault fired');
  });

  it('keeps using a still-valid token when its renewal fails, and renews once the service is back', async () => {
    const tokens = provider();
    const first = await tokens.token();
    advance(2_500);
    service.faults.add({ route: 'token', kind: 'status', status: 503, retryAfterSeconds: 0, count: 3 });
    assert.equal(await tokens.token(), first, 'renewal failed: the held token still works');
    assert.equal(await statusWith(first), 200);
    assert.ok((tokens.renewsAt ?? 0) > clock.now(), 'the next renewal try is scheduled');

    advance(1_000); // 3.5 s
    const renewed = await tokens.token();
    assert.notEqual(renewed, first);
    assert.equal(await statusWith(renewed), 200);
  });

  it('surfaces the failure when no valid token is left', async () => {
    service.faults.add({ route: 'token', kind: 'status', status: 503, retryAfterSeconds: 0, count: 3 });
    const err = await provider().token().catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError, String(err));
    assert.equal(err.status, 503);
    assert.equal(err.attempts, 3);

    const dead = new TokenProvider(http, 'http://127.0.0.1:1/connect/token', () => accounts.signingCredentials(), clock);
    assert.ok((await dead.token().catch((e: unknown) => e)) instanceof NetworkError);
  });

  it('names the reason when the service refuses the account, without key material', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const credentials: Credentials = {
      ServicePrincipalId: connection.ServicePrincipalId,
      TenantId: connection.TenantId,
      ServicePrincipalKey: { ...connection.ServicePrincipalKey, kid: 'urn:service:nobody:Stranger:9', ...(stranger as Record<string, string>), kty: 'RSA' },
    };
    const err = await provider(async () => credentials).token().catch((e: unknown) => e);
    assert.ok(err instanceof TokenRequestError, String(err));
    assert.equal(err.status, 401);
    assert.equal(err.oauthError, 'invalid_client');
    assert.match(err.message, /refused the account .*@.* \(401 invalid_client\): unknown key id \(kid\)\. Check that the imported connection file is current/);
    for (const part of ['d', 'p', 'q'] as const) assert.ok(!err.message.includes(String(stranger[part]).slice(0, 20)));

    // A key the service knows, but the wrong private half: the signature fails.
    const forged: Credentials = { ...credentials, ServicePrincipalKey: { ...credentials.ServicePrincipalKey, kid: connection.ServicePrincipalKey.kid } };
    const bad = await provider(async () => forged).token().catch((e: unknown) => e);
    assert.ok(bad instanceof TokenRequestError);
    assert.match(bad.message, /assertion signature does not verify/);
  });

  it('starts afresh for another account after reset()', async () => {
    const tokens = provider();
    const before = await tokens.token();
    const other = await service.createIntegration({ name: 'NorthGate' });
    const imported = await accounts.importConnectionFile(JSON.stringify(other), 'NorthGate.json');
    assert.ok(imported.ok, JSON.stringify(imported));
    tokens.reset();
    const after = await tokens.token();
    assert.notEqual(after, before);
    const subject = (t: string): unknown => (JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString('utf8')) as { sub: unknown }).sub;
    assert.equal(subject(before), `${connection.ServicePrincipalId}@${connection.TenantId}`);
    assert.equal(subject(after), `${other.ServicePrincipalId}@${other.TenantId}`);
    assert.equal(await statusWith(after), 200);
    assert.ok((await accounts.importConnectionFile(fs.readFileSync(service.connectionFilePath, 'utf8'))).ok); // back to the first account
  });

  it('fails clearly when no account is connected', async () => {
    const empty = new AccountStore({ state: new Keyv(), secrets: new FileSecretStore(path.join(dir, 'empty.json')) });
    await assert.rejects(provider(() => empty.signingCredentials()).token(), { name: 'AccountNotConnectedError' });
  });
});
