// Access tokens for every call to the service (§4): a JWT-bearer assertion
// signed with the service principal's key buys a token, renewed at half its
// lifetime, and once more when the service answers 401.
import { JWT_BEARER_GRANT_TYPE, type ConnectionFile, type TokenResponse } from './api';
import { clientIdOf, createClientAssertion } from './assertion';
import type { HttpClient } from '../net/httpClient';
import type { Clock } from '../net/clock';
import { systemClock } from '../net/clock';

export type Credentials = Pick<ConnectionFile, 'ServicePrincipalId' | 'TenantId' | 'ServicePrincipalKey'>;

interface Held {
  token: string;
  renewAt: number;
  expiresAt: number;
}

export class TokenProvider {
  private held?: Held;
  private pending?: Promise<Held>;
  private readonly clock: Clock;

  constructor(
    private readonly http: HttpClient,
    /** {SecurityTokenServiceBaseAddress}/token */
    readonly tokenUrl: string,
    private readonly credentials: () => Promise<Credentials>,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock;
  }

  /** A valid token; one request at a time however many callers ask. */
  async token(signal?: AbortSignal): Promise<string> {
    const now = this.clock.now();
    if (this.held && now < this.held.renewAt) return this.held.token;
    this.pending ??= this.fetchToken(signal).finally(() => (this.pending = undefined));
    return (await this.pending).token;
  }

  /** The service refused our token (401): the next call gets a new one. */
  invalidate(token: string): void {
    if (this.held?.token === token) this.held = undefined;
  }

  private async fetchToken(signal?: AbortSignal): Promise<Held> {
    const credentials = await this.credentials();
    const started = this.clock.now();
    const assertion = await createClientAssertion(credentials as ConnectionFile, this.tokenUrl, new Date(started));
    const form = new URLSearchParams({ client_id: clientIdOf(credentials), grant_type: JWT_BEARER_GRANT_TYPE, assertion });
    const res = await this.http.request(this.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form.toString(),
      // A fresh assertion per attempt would be better, but the same one is refused only as a replay after success.
      retryable: false,
      signal,
    });
    const body = res.json<TokenResponse>();
    if (typeof body.access_token !== 'string' || !(body.expires_in > 0)) {
      throw new Error(`The token service at ${new URL(this.tokenUrl).host} answered without a usable token.`);
    }
    const lifetimeMs = body.expires_in * 1000;
    this.held = { token: body.access_token, renewAt: started + lifetimeMs / 2, expiresAt: started + lifetimeMs };
    return this.held;
  }
}
