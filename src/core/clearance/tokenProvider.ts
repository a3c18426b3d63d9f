// Access tokens for every call to the service (docs/clearance-api.md §4): a JWT-bearer assertion
// signed with the service principal's key buys a token, renewed at half its
// lifetime, and once more when the service answers 401.
import { JWT_BEARER_GRANT_TYPE, type OAuthErrorBody, type TokenResponse } from './api';
import { clientIdOf, createClientAssertion, type SigningCredentials } from './assertion';
import type { HttpClient } from '../net/httpClient';
import { abortError, systemClock, type Clock } from '../net/clock';
import { bodyExcerpt } from '../net/errors';

export type Credentials = SigningCredentials;

/** The token service answered, but with no token: the account is refused or the answer is unusable. */
export class TokenRequestError extends Error {
  constructor(
    message: string,
    /** HTTP status of the answer. */
    readonly status: number,
    /** OAuth error code (`invalid_client`, `invalid_grant`…) when the service gave one. */
    readonly oauthError?: string,
  ) {
    super(message);
    this.name = 'TokenRequestError';
  }
}

interface Held {
  token: string;
  renewAt: number;
  expiresAt: number;
  /** Treat the token as expired this long before its end (clock skew, time in flight). */
  marginMs: number;
}

/** When a renewal fails while the token is still good, the next try waits at most this long. */
const RENEW_RETRY_MS = 30_000;

export class TokenProvider {
  private held?: Held;
  private pending?: Promise<Held>;
  private readonly clock: Clock;
  private readonly lifetime = new AbortController();
  private requestCount = 0;
  private generation = 0;

  constructor(
    private readonly http: HttpClient,
    /** {SecurityTokenServiceBaseAddress}/token */
    readonly tokenUrl: string,
    private readonly credentials: () => Promise<Credentials>,
    clock?: Clock,
  ) {
    this.clock = clock ?? systemClock;
  }

  /** `{SecurityTokenServiceBaseAddress}/token` (docs/clearance-api.md §4). */
  static tokenUrlFor(stsBaseAddress: string): string {
    return `${stsBaseAddress.replace(/\/+$/, '')}/token`;
  }

  /** Token requests sent so far (each may have taken several HTTP attempts). */
  get requests(): number {
    return this.requestCount;
  }

  /** When the held token will be renewed (ms since the epoch); undefined when none is held. */
  get renewsAt(): number | undefined {
    return this.held?.renewAt;
  }

  /**
   * A valid token. However many callers ask at once, one request is sent; a caller's
   * signal stops only that caller's wait, never the request the others share.
   */
  async token(signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) throw abortError(signal);
    const now = this.clock.now();
    if (this.held && now < this.held.renewAt) return this.held.token;
    let pending = this.pending;
    if (!pending) {
      pending = this.fetchToken().finally(() => {
        if (this.pending === pending) this.pending = undefined;
      });
      this.pending = pending;
    }
    try {
      return (await untilAborted(pending, signal)).token;
    } catch (error) {
      if (signal?.aborted || this.lifetime.signal.aborted) throw error;
      // Renewing early exists for this: the service is unreachable for a while, yet the
      // token we hold still works. Keep using it and try again a little later.
      const held = this.held;
      const later = this.clock.now();
      if (held && later < held.expiresAt - held.marginMs) {
        held.renewAt = Math.min(later + RENEW_RETRY_MS, later + (held.expiresAt - held.marginMs - later) / 2);
        return held.token;
      }
      throw error;
    }
  }

  /** The service refused `token` (401): the next call gets a new one. */
  invalidate(token: string): void {
    if (this.held?.token === token) this.held = undefined;
  }

  /** Forgets the token, e.g. when another account was imported; a request in flight is not kept. */
  reset(): void {
    this.generation++;
    this.held = undefined;
    this.pending = undefined;
  }

  /** Cancels a token request in flight; later calls fail. */
  dispose(): void {
    this.lifetime.abort();
    this.held = undefined;
  }

  private async fetchToken(): Promise<Held> {
    const generation = this.generation;
    const credentials = await this.credentials();
    this.requestCount++;
    let started = this.clock.now();
    const res = await this.http.request(this.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      // A fresh assertion (new jti) per attempt: a retry is never refused as a replay, so
      // this POST is safe to retry on network errors, 5xx and 429.
      body: async () => {
        started = this.clock.now();
        const assertion = await createClientAssertion(credentials, this.tokenUrl, new Date(started));
        return new URLSearchParams({ client_id: clientIdOf(credentials), grant_type: JWT_BEARER_GRANT_TYPE, assertion }).toString();
      },
      retryable: true,
      acceptStatus: (s) => (s >= 200 && s < 300) || s === 400 || s === 401,
      signal: this.lifetime.signal,
    });
    const host = new URL(this.tokenUrl).host;
    if (res.status === 400 || res.status === 401) {
      const body = parseJson(res.text()) as Partial<OAuthErrorBody> | undefined;
      const code = typeof body?.error === 'string' ? bodyExcerpt(body.error, 40) : undefined;
      const why = typeof body?.error_description === 'string' ? bodyExcerpt(body.error_description, 200) : undefined;
      throw new TokenRequestError(
        `The token service at ${host} refused the account ${clientIdOf(credentials)} (${res.status}` +
          `${code ? ` ${code}` : ''})${why ? `: ${why}` : ''}. Check that the imported connection file is current.`,
        res.status,
        code,
      );
    }
    const body = parseJson(res.text()) as Partial<TokenResponse> | undefined;
    const lifetimeSeconds = body?.expires_in;
    if (
      typeof body?.access_token !== 'string' ||
      body.access_token === '' ||
      typeof lifetimeSeconds !== 'number' ||
      !Number.isFinite(lifetimeSeconds) ||
      lifetimeSeconds <= 0 ||
      (body.token_type !== undefined && String(body.token_type).toLowerCase() !== 'bearer')
    ) {
      throw new TokenRequestError(`The token service at ${host} answered without a usable Bearer token.`, res.status);
    }
    const lifetimeMs = lifetimeSeconds * 1000;
    // Counted from when the request left, not when the answer came: never too late.
    const held: Held = {
      token: body.access_token,
      renewAt: started + lifetimeMs / 2,
      expiresAt: started + lifetimeMs,
      marginMs: Math.min(30_000, lifetimeMs / 10),
    };
    if (generation === this.generation) this.held = held;
    return held;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `promise`, or the caller's abort, whichever comes first (the promise itself runs on). */
function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
