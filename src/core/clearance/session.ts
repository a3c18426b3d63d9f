// One authenticated conversation with a Clearance account: every service call
// goes through here, so the bearer token, the single retry on 401 and the
// JSON handling live in one place. The document store, agent service and
// registry clients are thin layers over `call`.
import type { HttpClient, HttpRequest, HttpResponse } from '../net/httpClient';
import { bodyExcerpt, redactUrl, ServiceError } from '../net/errors';
import type { TokenProvider } from './tokenProvider';

export interface SessionCall extends Omit<HttpRequest, 'body' | 'headers'> {
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (when `json` is absent); a function makes a fresh body per attempt. */
  body?: HttpRequest['body'];
}

/** The service refused a fresh token too: the account itself is not accepted. */
export class AuthenticationError extends ServiceError {
  constructor(facts: ConstructorParameters<typeof ServiceError>[0], reason: string | undefined) {
    super(
      facts,
      `The Clearance service refused the account's access token twice (401) for ${facts.method} ${facts.url}` +
        `${reason ? ` (${reason})` : ''}. Check that the connection file is current, or import it again.`,
    );
    this.name = 'AuthenticationError';
  }
}

export class ClearanceSession {
  constructor(
    readonly http: HttpClient,
    readonly tokens: TokenProvider,
  ) {}

  /** An authenticated request; a 401 buys one new token and one more try, never more. */
  async call(url: string, request: SessionCall = {}): Promise<HttpResponse> {
    const { json, headers, body, acceptStatus, ...rest } = request;
    const accepted = acceptStatus ?? ((s: number) => s >= 200 && s < 300);
    const send = async (): Promise<{ token: string; res: HttpResponse }> => {
      const token = await this.tokens.token(request.signal);
      const res = await this.http.request(url, {
        ...rest,
        headers: {
          Accept: 'application/json',
          ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...headers,
          Authorization: `Bearer ${token}`,
        },
        body: json !== undefined ? JSON.stringify(json) : body,
        acceptStatus: (s) => s === 401 || accepted(s),
      });
      return { token, res };
    };
    const first = await send();
    if (first.res.status !== 401 || accepted(401)) return first.res;
    this.tokens.invalidate(first.token);
    if (body !== undefined && typeof body !== 'function' && isStream(body)) {
      // The stream is spent: the caller sends it again (with a new token) when it retries.
      throw new ServiceError(
        { method: (request.method ?? 'GET').toUpperCase(), url: redactUrl(url), attempts: first.res.attempts, status: 401, statusText: first.res.statusText },
        `The Clearance service refused the access token (401) for ${(request.method ?? 'GET').toUpperCase()} ${redactUrl(url)}; ` +
          'the next try uses a new token.',
      );
    }
    const second = await send();
    if (second.res.status !== 401 || accepted(401)) return second.res;
    this.tokens.invalidate(second.token);
    throw new AuthenticationError(
      {
        method: (request.method ?? 'GET').toUpperCase(),
        url: redactUrl(url),
        attempts: first.res.attempts + second.res.attempts,
        status: 401,
        statusText: second.res.statusText,
        body: second.res.body,
      },
      reasonOf(second.res),
    );
  }

  /** `call`, answering the parsed JSON body. */
  async json<T>(url: string, request: SessionCall = {}): Promise<T> {
    const res = await this.call(url, request);
    return res.json<T>();
  }
}

function isStream(body: object | string): boolean {
  return typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe === 'function';
}

/** The service's own words from an OAuth-style 401 (body or WWW-Authenticate), cleaned. */
function reasonOf(res: HttpResponse): string | undefined {
  try {
    const body = JSON.parse(res.text()) as { error_description?: unknown; message?: unknown };
    const text = typeof body.error_description === 'string' ? body.error_description : typeof body.message === 'string' ? body.message : undefined;
    if (text) return bodyExcerpt(text, 160);
  } catch {
    // not JSON: try the challenge header
  }
  const m = /error_description="([^"]*)"/.exec(res.headers['www-authenticate'] ?? '');
  return m?.[1] ? bodyExcerpt(m[1], 160) : undefined;
}
