// ClearanceSession against the local service: every call carries the bearer token; a
// 401 (the service's tokenExpiry fault ends a token early) buys one new token and one
// more try; a second 401 is a clear AuthenticationError.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { ConnectionFile, EncryptionKeyResponse } from '../../../src/core/clearance/api';
import { AuthenticationError, ClearanceSession } from '../../../src/core/clearance/session';
import { TokenProvider } from '../../../src/core/clearance/tokenProvider';
import { ManualClock } from '../../../src/core/net/clock';
import { ServiceError } from '../../../src/core/net/errors';
import { HttpClient } from '../../../src/core/net/httpClient';
import { ManualClock as ServiceClock } from '../../../src/emulator/clock';
import type { Fault } from '../../../src/emulator/faults';
import { startEmulator, type RunningEmulator } from '../../../src/emulator/server';

const START = Date.UTC(2025, 2, 1, 9, 0, 0);

describe('ClearanceSession against the local service', function () {
  this.timeout(30_000);
  let dir: string;
  let service: RunningEmulator;
  let connection: ConnectionFile;
  let http: HttpClient;
  let session: ClearanceSession;
  let keyUrl: string;
  let faultsUrl: string;

  const newSession = (): ClearanceSession =>
    new ClearanceSession(
      http,
      new TokenProvider(http, TokenProvider.tokenUrlFor(connection.SecurityTokenServiceBaseAddresses[0] as string), async () => connection, new ManualClock(START, false)),
    );
  /** Adds a fault through the service's admin route, with the session itself (a JSON POST). */
  const addFault = (spec: Record<string, unknown>): Promise<Fault> => session.json<Fault>(faultsUrl, { method: 'POST', json: spec });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-session-'));
    service = await startEmulator({ location: dir, clock: new ServiceClock(new Date(START)), log: () => undefined });
    connection = JSON.parse(fs.readFileSync(service.connectionFilePath, 'utf8')) as ConnectionFile;
    http = await HttpClient.create({ clock: new ManualClock(START) });
    keyUrl = `${connection.KeyStoreBaseAddresses[0]}/tenant/${connection.TenantId}/keys/encryption`;
    faultsUrl = `${connection.ApiBaseAddresses[0]}/admin/api/v1/faults`;
  });
  after(async () => {
    http?.close();
    await service?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    service.faults.clear();
    session = newSession();
  });
  const getKey = (): Promise<EncryptionKeyResponse> => session.json<EncryptionKeyResponse>(keyUrl);

  it('calls with the bearer token, sending and reading JSON', async () => {
    const key = await getKey();
    assert.equal(key.Algorithm, 'RSA-OAEP');
    const fault = await addFault({ route: 'keystore.encryptionKey', kind: 'latency', latencyMs: 1, count: 1 });
    assert.equal(fault.route, 'keystore.encryptionKey');
    assert.equal(service.faults.list().length, 1);
    assert.equal(session.tokens.requests, 1, 'one token for both calls');
  });

  it('recovers from one 401 with one new token and one more try', async () => {
    await getKey();
    await addFault({ route: 'keystore.encryptionKey', kind: 'tokenExpiry', count: 1 });
    const key = await getKey();
    assert.equal(key.Algorithm, 'RSA-OAEP');
    assert.equal(session.tokens.requests, 2);
    assert.equal(service.faults.list().length, 0, 'the 401 was served');
  });

  it('surfaces a second 401 as AuthenticationError with the service\'s reason, and starts afresh on the next call', async () => {
    await getKey();
    await addFault({ route: 'keystore.encryptionKey', kind: 'tokenExpiry', count: 2 });
    const err = await getKey().catch((e: unknown) => e);
    assert.ok(err instanceof AuthenticationError, String(err));
    assert.ok(err instanceof ServiceError);
    assert.equal(err.status, 401);
    assert.equal(err.attempts, 2);
    assert.match(err.message, /refused the account's access token twice \(401\) for GET http:\/\/127\.0\.0\.1:\d+\/keystore\/api\/v1\/tenant\/[^/]+\/keys\/encryption \(the access token expired\)\. Check that the connection file is current/);
    assert.equal(service.faults.list().length, 0, 'exactly two tries were made');
    assert.equal(session.tokens.requests, 2, 'no third token for the same call');

    const again = await getKey();
    assert.equal(again.Algorithm, 'RSA-OAEP');
    assert.equal(session.tokens.requests, 3, 'the refused token is not used again');
  });

  it('shares one token among concurrent calls, and renews it once when they all meet a 401', async () => {
    const first = await Promise.all(Array.from({ length: 6 }, () => getKey()));
    assert.equal(first.length, 6);
    assert.equal(session.tokens.requests, 1);

    await addFault({ route: 'keystore.encryptionKey', kind: 'tokenExpiry', count: 6 });
    const second = await Promise.all(Array.from({ length: 6 }, () => getKey()));
    assert.equal(second.length, 6);
    assert.equal(session.tokens.requests, 2);
    assert.equal(service.faults.list().length, 0);
  });

  it('sends a POST again after a 401 (refused before it ran); a spent stream body is not resent', async () => {
    const evidenceUrl = `${connection.DocumentStoreBaseAddresses[0]}/tenant/${connection.TenantId}/evidence`;
    await getKey();
    await addFault({ route: 'evidence.create', kind: 'tokenExpiry', count: 1 });
    const created = await session.call(evidenceUrl, { method: 'POST', json: { Name: 'Loading dock, north gate' } });
    assert.equal(created.status, 201);
    assert.equal(created.json<{ Name: string }>().Name, 'Loading dock, north gate');

    await addFault({ route: 'evidence.create', kind: 'tokenExpiry', count: 1 });
    const err = await session
      .call(evidenceUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: Readable.from([Buffer.from('{"Name":"streamed"}')]),
      })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError && !(err instanceof AuthenticationError), String(err));
    assert.equal(err.status, 401);
    assert.match(err.message, /refused the access token \(401\) for POST .*; the next try uses a new token/);
    const again = await session.call(evidenceUrl, { method: 'POST', body: () => Readable.from([Buffer.from('{"Name":"streamed"}')]), headers: { 'Content-Type': 'application/json' } });
    assert.equal(again.status, 201);
  });

  it('passes other refusals through unchanged, without renewing the token', async () => {
    await getKey();
    const err = await session.call(`${connection.KeyStoreBaseAddresses[0]}/tenant/some-other-tenant/keys/encryption`).catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError && !(err instanceof AuthenticationError), String(err));
    assert.equal(err.status, 403);
    assert.equal(session.tokens.requests, 1);

    const accepted = await session.call(`${connection.ApiBaseAddresses[0]}/no/such/route`, { acceptStatus: (s) => s === 404 });
    assert.equal(accepted.status, 404);
  });
});
