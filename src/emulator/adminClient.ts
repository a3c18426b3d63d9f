// A small client of the emulator's own routes (admin, requests), used by the
// CLI. It authenticates like any integration: JWT-bearer grant with a
// connection file.
import type { ConnectionFile, TokenResponse } from '../core/clearance/api';
import { JWT_BEARER_GRANT_TYPE } from '../core/clearance/api';
import { clientIdOf, createClientAssertion } from '../core/clearance/assertion';

export class AdminClient {
  private token: string | undefined;

  constructor(
    private readonly connection: ConnectionFile,
    /** Base URL of the service; defaults to the connection file's API gateway. */
    private readonly baseUrl: string = connection.ApiBaseAddresses[0],
  ) {}

  private async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const tokenUrl = `${this.baseUrl.replace(/\/+$/, '')}/connect/token`;
    const assertion = await createClientAssertion(this.connection, tokenUrl, new Date());
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientIdOf(this.connection), grant_type: JWT_BEARER_GRANT_TYPE, assertion }).toString(),
    });
    const body = (await res.json()) as TokenResponse & { error?: string; error_description?: string };
    if (!res.ok) throw new Error(`token request failed (${res.status}): ${body.error_description ?? body.error}`);
    this.token = body.access_token;
    return this.token;
  }

  /** Calls a route below the base URL; throws with the service's message on an error status. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.accessToken()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const err = parsed as { message?: string; error_description?: string } | undefined;
      throw new Error(`${method} ${path} failed (${res.status}): ${err?.message ?? err?.error_description ?? text}`);
    }
    return parsed as T;
  }
}
