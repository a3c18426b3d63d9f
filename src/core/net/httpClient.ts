// The one way the engine talks HTTP: node-fetch over a proxy-aware agent, with a time
// limit on every call, retries with full-jitter backoff where a retry is safe, and typed
// errors that never carry a query string (SAS tokens) or a proxy password.

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Response, RequestInit } from 'node-fetch' with { 'resolution-mode': 'import' };
import type { ProxyAgent } from 'proxy-agent' with { 'resolution-mode': 'import' };
import { abortError, systemClock, type Clock } from './clock';
import { NetworkError, ProxyAuthenticationError, ServiceError, TimeoutError, redactUrl } from './errors';
import { caListWith, createAgent, describeProxy, type RoleProxy } from './proxy';
import { DEFAULT_RETRY_POLICY, IDEMPOTENT_METHODS, backoffDelayMs, isRetryableStatus, parseRetryAfter, type RetryPolicy } from './retry';

export type BodyInput = string | Buffer | Uint8Array | URLSearchParams | Readable;

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  /**
   * The body, or a function that makes a fresh one per attempt (it may be async, e.g. to
   * sign a new assertion). A stream given directly cannot be sent twice, so such a request
   * is tried once; pass a factory to allow retries.
   */
  body?: BodyInput | (() => BodyInput | Promise<BodyInput>);
  /** Sent as Content-Length. Set it for stream bodies: otherwise they go chunked (docs/platform-notes.md §4). */
  contentLength?: number;
  /** Limit for this call, headers and (for request()) the whole body; default from the client. */
  timeoutMs?: number;
  /** Retry a non-idempotent request (POST/PATCH) too; false turns retries off for any method. */
  retryable?: boolean;
  signal?: AbortSignal;
  /** Statuses handed back instead of thrown as ServiceError; default: 2xx. */
  acceptStatus?: (status: number) => boolean;
  /** request() refuses bigger answers (default 16 MiB). */
  maxResponseBytes?: number;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  attempts: number;
  text(): string;
  /** Parses the body; a clear error (with no body content) when it is not JSON. */
  json<T = unknown>(): T;
}

export interface RetryNotice {
  method: string;
  /** Redacted. */
  url: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface HttpClientOptions {
  /** The role's proxy (password from the SecretStore). Off or absent: the environment's proxy, if any. */
  proxy?: RoleProxy;
  /** PEM file of extra CAs, added to Node's default roots (verification is always on). */
  extraCaFile?: string;
  /** Default time limit per call (default 30 s). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
  /** [0, 1) source for jitter. */
  random?: () => number;
  userAgent?: string;
  onRetry?: (notice: RetryNotice) => void;
}

type FetchFn = (url: string, init?: RequestInit) => Promise<Response>;

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const ERROR_BODY_BYTES = 4096;
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Failures of the connection itself: worth another attempt. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_SSL_WRONG_VERSION_NUMBER', // a TLS-intercepting proxy hiccup or a server restarting
]);

class TimeoutSignal extends Error {}

type Outcome<T> = { done: true; value: T } | { done: false; error: Error; retryable: boolean; retryAfterMs?: number };

export class HttpClient {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly onRetry?: (notice: RetryNotice) => void;
  private readonly retired: ProxyAgent[] = [];

  private constructor(
    private readonly fetchFn: FetchFn,
    private agent: ProxyAgent,
    private proxy: RoleProxy | undefined,
    options: HttpClientOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.userAgent = options.userAgent ?? 'clearance-console';
    if (options.onRetry) this.onRetry = options.onRetry;
  }

  /** Async because node-fetch and proxy-agent are ESM-only and the CA file is read from disk. */
  static async create(options: HttpClientOptions = {}): Promise<HttpClient> {
    const { default: fetch } = await import('node-fetch');
    const agent = await createAgent({ proxy: options.proxy, ca: await loadCa(options.extraCaFile) });
    return new HttpClient(fetch, agent, options.proxy, options);
  }

  /** New proxy / CA settings for later calls (role properties changed). */
  async reconfigure(settings: { proxy?: RoleProxy; extraCaFile?: string }): Promise<void> {
    const agent = await createAgent({ proxy: settings.proxy, ca: await loadCa(settings.extraCaFile) });
    // Calls in flight keep the old agent; its sockets are closed with the client.
    this.retired.push(this.agent);
    this.agent = agent;
    this.proxy = settings.proxy;
  }

  /** Sends the request and reads the whole answer, retrying where that is safe. */
  request(url: string, init: HttpRequest = {}): Promise<HttpResponse> {
    const maxBytes = init.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    return this.execute(url, init, async (res, attempts, method) => {
      const body = await readBody(res, maxBytes);
      if (body === 'too-large') {
        throw new NetworkError({ method, url: redactUrl(url), attempts, detail: `the answer is larger than ${maxBytes} bytes` });
      }
      return toHttpResponse(res, body, attempts, method, url);
    });
  }

  /**
   * Like request() but hands back the unread response (for downloads). The time limit and
   * the retries cover the answer's headers only; read the body with your own signal.
   */
  stream(url: string, init: HttpRequest = {}): Promise<Response> {
    return this.execute(url, init, async (res) => res, true);
  }

  close(): void {
    for (const agent of [...this.retired, this.agent]) agent.destroy();
    this.retired.length = 0;
  }

  // -------------------------------------------------------------------------------------

  private async execute<T>(
    url: string,
    init: HttpRequest,
    consume: (res: Response, attempts: number, method: string) => Promise<T>,
    headersOnly = false,
  ): Promise<T> {
    const method = (init.method ?? 'GET').toUpperCase();
    const safeUrl = redactUrl(url);
    checkUrl(url, method, safeUrl);
    const replayable = init.body === undefined || typeof init.body === 'function' || !isStream(init.body);
    const mayRetry = replayable && (init.retryable ?? IDEMPOTENT_METHODS.has(method));
    const maxAttempts = mayRetry ? Math.max(1, this.policy.maxAttempts) : 1;

    for (let attempt = 1; ; attempt++) {
      if (init.signal?.aborted) throw abortError(init.signal);
      const outcome = await this.attemptOnce(url, safeUrl, method, init, attempt, consume, headersOnly);
      if (outcome.done) return outcome.value;
      const { error, retryAfterMs } = outcome;
      if (!outcome.retryable || attempt >= maxAttempts) throw error;
      if (retryAfterMs !== undefined && retryAfterMs > this.policy.maxRetryAfterMs) throw error;
      // Never sooner than the server asked, and never a tight loop on "Retry-After: 0".
      const delayMs = Math.max(retryAfterMs ?? 0, backoffDelayMs(attempt, this.policy, this.random));
      this.onRetry?.({ method, url: safeUrl, attempt, delayMs, reason: error.message });
      await this.clock.sleep(delayMs, init.signal);
    }
  }

  private async attemptOnce<T>(
    url: string,
    safeUrl: string,
    method: string,
    init: HttpRequest,
    attempt: number,
    consume: (res: Response, attempts: number, method: string) => Promise<T>,
    headersOnly: boolean,
  ): Promise<Outcome<T>> {
    // The caller's own failure (e.g. signing a body) is not a network error: it is not retried.
    const body = toBodyInit(typeof init.body === 'function' ? await init.body() : init.body);
    const timeoutMs = init.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeoutSignal()), timeoutMs);
    const onCallerAbort = (): void => controller.abort(init.signal?.reason);
    init.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const facts = { method, url: safeUrl, attempts: attempt };
    let streaming = false;
    try {
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...init.headers };
      if (init.contentLength !== undefined) headers['Content-Length'] = String(init.contentLength);
      const res = await this.fetchFn(url, {
        method,
        headers,
        body,
        agent: this.agent,
        signal: controller.signal,
        // Clearance APIs do not redirect; following one would resend credentials elsewhere.
        redirect: 'manual',
      });
      if (headersOnly) clearTimeout(timer);

      if (res.status === 407) {
        // Only a proxy answers 407: the role's, or else one from the environment.
        const errBody = await readBody(res, ERROR_BODY_BYTES, true).catch(() => undefined);
        const proxyName = describeProxy(this.proxy);
        return {
          done: false,
          retryable: false,
          error: new ProxyAuthenticationError(
            { ...facts, status: 407, statusText: res.statusText, body: asBody(errBody) },
            proxyName ?? { environment: true },
          ),
        };
      }
      const accepted = init.acceptStatus ? init.acceptStatus(res.status) : res.status >= 200 && res.status < 300;
      if (accepted) {
        // A streamed body must stay abortable by the caller's signal after we return.
        streaming = headersOnly;
        return { done: true, value: await consume(res, attempt, method) };
      }

      const errBody = await readBody(res, ERROR_BODY_BYTES, true).catch(() => undefined);
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.clock.now());
      const error = new ServiceError({
        ...facts,
        status: res.status,
        statusText: res.statusText,
        body: asBody(errBody),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
      return { done: false, error, retryable: isRetryableStatus(res.status), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    } catch (error) {
      if (init.signal?.aborted) throw abortError(init.signal);
      if (controller.signal.reason instanceof TimeoutSignal) {
        return { done: false, retryable: true, error: new TimeoutError({ ...facts, timeoutMs }) };
      }
      if (error instanceof ServiceError || error instanceof NetworkError || error instanceof TimeoutError) {
        return { done: false, retryable: false, error };
      }
      return this.networkFailure(error, facts);
    } finally {
      clearTimeout(timer);
      if (!streaming) init.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private networkFailure(error: unknown, facts: { method: string; url: string; attempts: number }): Outcome<never> {
    const code = errorCode(error);
    const via = describeProxy(this.proxy);
    if (code && TLS_TRUST_CODES.has(code)) {
      return {
        done: false,
        retryable: false,
        error: new NetworkError(
          { ...facts, code, detail: describeTlsCode(code), ...(via ? { via } : {}) },
          { cause: scrubCause(error) },
        ),
      };
    }
    const detail = code ? describeCode(code) : scrubMessage(error);
    return {
      done: false,
      // Only what the network did is worth another try; a malformed request fails the same way again.
      retryable: code !== undefined && TRANSIENT_CODES.has(code),
      error: new NetworkError({ ...facts, ...(code ? { code } : {}), detail, ...(via ? { via } : {}) }, { cause: scrubCause(error) }),
    };
  }
}

// ---------------------------------------------------------------------------------------

/** A URL the client will not send: refused before any attempt, with no secret in the message. */
function checkUrl(url: string, method: string, safeUrl: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${method}: not a valid absolute URL (${safeUrl.slice(0, 100)})`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new TypeError(`${method} ${safeUrl}: only http:// and https:// URLs can be called`);
  }
  if (parsed.username || parsed.password) {
    throw new TypeError(`${method} ${safeUrl}: the URL must not carry a user name or password`);
  }
}

async function loadCa(file: string | undefined): Promise<string[] | undefined> {
  if (!file) return undefined;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`Cannot read the extra CA file ${file} (${errorCode(error) ?? 'unknown error'}).`);
  }
  return caListWith(pem);
}

function toBodyInit(body: BodyInput | undefined): Exclude<BodyInput, Uint8Array> | Buffer | undefined {
  if (body instanceof Uint8Array && !Buffer.isBuffer(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return body as Exclude<BodyInput, Uint8Array> | undefined;
}

function isStream(body: BodyInput): body is Readable {
  return typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function';
}

/** Reads at most `max` bytes; returns 'too-large' (or the truncated prefix) beyond that. */
async function readBody(res: Response, max: number, truncate?: false): Promise<Buffer | 'too-large'>;
async function readBody(res: Response, max: number, truncate: true): Promise<Buffer>;
async function readBody(res: Response, max: number, truncate = false): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  const body = res.body;
  if (!body) return Buffer.alloc(0);
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    if (size + buf.length > max) {
      if (!truncate) {
        destroyBody(res);
        return 'too-large';
      }
      chunks.push(buf.subarray(0, max - size));
      destroyBody(res);
      return Buffer.concat(chunks);
    }
    chunks.push(buf);
    size += buf.length;
  }
  return Buffer.concat(chunks);
}

function destroyBody(res: Response): void {
  const body = res.body as unknown as { destroy?: () => void } | null;
  body?.destroy?.();
}

function asBody(buf: Buffer | 'too-large' | undefined): Buffer | undefined {
  return buf instanceof Buffer ? buf : undefined;
}

function toHttpResponse(res: Response, body: Buffer, attempts: number, method: string, url: string): HttpResponse {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  return {
    status: res.status,
    statusText: res.statusText,
    headers,
    body,
    attempts,
    text: () => body.toString('utf8'),
    json: <T>() => {
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch {
        throw new ServiceError(
          { method, url: redactUrl(url), attempts, status: res.status, statusText: res.statusText },
          `${method} ${redactUrl(url)} answered ${res.status} with a body that is not JSON`,
        );
      }
    },
  };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; errno?: unknown; cause?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (typeof e.errno === 'string') return e.errno;
  return e.cause ? errorCode(e.cause) : undefined;
}

function describeCode(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)';
    case 'EPIPE':
      return 'connection closed while sending (EPIPE)';
    case 'ENOTFOUND':
      return 'host name not found (ENOTFOUND)';
    case 'EAI_AGAIN':
      return 'host name lookup failed temporarily (EAI_AGAIN)';
    case 'ETIMEDOUT':
      return 'connection timed out (ETIMEDOUT)';
    case 'EHOSTUNREACH':
      return 'host unreachable (EHOSTUNREACH)';
    case 'ENETUNREACH':
      return 'network unreachable (ENETUNREACH)';
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'the connection closed before the whole answer arrived';
    default:
      return `connection failed (${code})`;
  }
}

function describeTlsCode(code: string): string {
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server's TLS certificate is not issued for this host name (${code})`;
    case 'CERT_HAS_EXPIRED':
      return `the server's TLS certificate has expired (${code})`;
    case 'CERT_NOT_YET_VALID':
      return `the server's TLS certificate is not valid yet; check this computer's clock (${code})`;
    default:
      return `the server's TLS certificate is not trusted (${code}); if your site uses its own CA (or a proxy that inspects TLS), add it as an extra CA file`;
  }
}

/** node-fetch puts the full URL (query = SAS token) into its messages: cut queries out. */
function scrubMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/(\w+:\/\/[^\s?#'"]*)[?#][^\s'"]*/g, '$1').replace(/\/\/[^/\s@]*@/g, '//').slice(0, 300);
}

/** A cause without the original message (which may hold a URL with a query). */
function scrubCause(error: unknown): Error {
  const scrubbed = new Error(scrubMessage(error));
  scrubbed.name = error instanceof Error ? error.name : 'Error';
  const code = errorCode(error);
  if (code) (scrubbed as Error & { code?: string }).code = code;
  return scrubbed;
}
