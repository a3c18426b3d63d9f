// A real client of the local service for the tests: the JWT-bearer grant with
// a connection file (assertion.ts + node-fetch), then Bearer calls.
import fetch, { type RequestInit, type Response } from 'node-fetch';
import type { ConnectionFile, TokenResponse } from '../../../src/core/clearance/api';
import { JWT_BEARER_GRANT_TYPE } from '../../../src/core/clearance/api';
import { clientIdOf, createClientAssertion } from '../../../src/core/clearance/assertion';
import type { Clock } from '../../../src/emulator/clock';

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Response['headers'];
}

export class ServiceClient {
  token: string | undefined;
  readonly tenantId: string;
  readonly ds: string;
  readonly api: string;

  constructor(
    readonly connection: ConnectionFile,
    private readonly clock: Clock,
  ) {
    this.tenantId = connection.TenantId;
    this.ds = connection.DocumentStoreBaseAddresses[0];
    this.api = connection.ApiBaseAddresses[0];
  }

  /** `<ServicePrincipalId>@<TenantId>`: the principal id in access policies and the default agent id. */
  get clientId(): string {
    return clientIdOf(this.connection);
  }

  get tokenUrl(): string {
    return `${this.connection.SecurityTokenServiceBaseAddresses[0]}/token`;
  }

  async requestToken(form?: Record<string, string>): Promise<Answer<TokenResponse & { error?: string; error_description?: string }>> {
    const assertion = await createClientAssertion(this.connection, this.tokenUrl, this.clock.now());
    const res = await fetch(this.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form ?? { client_id: clientIdOf(this.connection), grant_type: JWT_BEARER_GRANT_TYPE, assertion }).toString(),
    });
    return { status: res.status, body: (await res.json()) as TokenResponse, headers: res.headers };
  }

  async login(): Promise<string> {
    const a = await this.requestToken();
    if (a.status !== 200) throw new Error(`token: ${a.status} ${JSON.stringify(a.body)}`);
    this.token = a.body.access_token;
    return this.token;
  }

  /** Calls `url` (absolute, or relative to the API base) with the Bearer token. */
  async call<T = unknown>(method: string, url: string, body?: unknown, init: RequestInit = {}): Promise<Answer<T>> {
    if (!this.token) await this.login();
    const res = await fetch(url.startsWith('http') ? url : `${this.api}${url}`, {
      method,
      ...init,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.headers as Record<string, string> | undefined),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** Same as call, but fails the test on a non-2xx status. */
  async ok<T = unknown>(method: string, url: string, body?: unknown): Promise<T> {
    const a = await this.call<T>(method, url, body);
    if (a.status >= 300) throw new Error(`${method} ${url} → ${a.status} ${JSON.stringify(a.body)}`);
    return a.body;
  }
}
