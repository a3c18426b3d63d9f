// One authenticated conversation with a Clearance account: every service call
// goes through here, so the bearer token, the single retry on 401 and the
// JSON handling live in one place. The document store, agent service and
// registry clients are thin layers over `call`.
import type { HttpClient, HttpRequest, HttpResponse } from '../net/httpClient';
import { redactUrl, ServiceError } from '../net/errors';
import type { TokenProvider } from './tokenProvider';

export interface SessionCall extends Omit<HttpRequest, 'body' | 'headers'> {
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
}

export class ClearanceSession {
  constructor(
    readonly http: HttpClient,
    readonly tokens: TokenProvider,
  ) {}

  /** An authenticated request; a 401 buys one new token and one more try. */
  async call(url: string, request: SessionCall = {}): Promise<HttpResponse> {
    const { json, headers, ...rest } = request;
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
        body: json !== undefined ? JSON.stringify(json) : undefined,
        acceptStatus: (s) => s === 401 || (rest.acceptStatus ? rest.acceptStatus(s) : s >= 200 && s < 300),
      });
      return { token, res };
    };
    const first = await send();
    let res = first.res;
    if (res.status === 401) {
      this.tokens.invalidate(first.token);
      res = (await send()).res;
      if (res.status === 401) {
        throw new ServiceError(
          { method: request.method ?? 'GET', url: redactUrl(url), attempts: res.attempts, status: 401, statusText: res.statusText, body: res.body },
          'The Clearance service refused the account credentials twice (401). Check that the connection file is current.',
        );
      }
    }
    return res;
  }

  /** `call`, answering the parsed JSON body. */
  async json<T>(url: string, request: SessionCall = {}): Promise<T> {
    const res = await this.call(url, request);
    return res.json<T>();
  }
}
