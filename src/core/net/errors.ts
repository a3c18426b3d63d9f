// Typed network errors. Their messages and fields never carry a query string (Azure SAS
// tokens live there), user info, or raw control characters from a response body.
import { XMLParser } from 'fast-xml-parser';

/** The URL without query, fragment or credentials: safe for messages and logs. */
export function redactUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    const text = String(url);
    return text.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//');
  }
}

/** A short, single-line excerpt of a response body for error messages. */
export function bodyExcerpt(body: string | Uint8Array | undefined, maxChars = 200): string {
  if (body === undefined) return '';
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, maxChars * 4)).toString('utf8');
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > maxChars ? `${clean.slice(0, maxChars - 1)}…` : clean;
}

export interface RequestFacts {
  method: string;
  /** Already redacted (see redactUrl). */
  url: string;
  attempts: number;
}

/** What an Azure Storage error body says (`<Error><Code>…</Code><Message>…</Message></Error>`), cleaned for one line. */
export interface StorageErrorDetail {
  code: string;
  /** The message's first line (Azure appends `RequestId:` and `Time:` lines). */
  message: string;
}

const storageErrorXml = new XMLParser({ parseTagValue: false, processEntities: false });

/** The code and message of an Azure Storage error body; undefined for any other body. */
export function storageErrorDetail(body: string | Uint8Array | undefined): StorageErrorDetail | undefined {
  if (body === undefined) return undefined;
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (!/^\s*(<\?xml[^>]*>\s*)?<Error>/.test(text)) return undefined;
  let doc: { Error?: { Code?: unknown; Message?: unknown } };
  try {
    doc = storageErrorXml.parse(text) as typeof doc;
  } catch {
    return undefined; // cut off or not XML after all: the excerpt says what there is
  }
  const code = typeof doc.Error?.Code === 'string' ? bodyExcerpt(doc.Error.Code, 64) : '';
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(code)) return undefined;
  const firstLine = typeof doc.Error?.Message === 'string' ? doc.Error.Message.split(/\r?\n/)[0] : '';
  return { code, message: bodyExcerpt(firstLine, 200) };
}

/** The server answered with a status the caller did not accept. */
export class ServiceError extends Error {
  readonly status: number;
  readonly statusText: string;
  readonly method: string;
  readonly url: string;
  readonly bodyExcerpt: string;
  readonly attempts: number;
  /** From Retry-After, when the server sent one (ms from when the answer came). */
  readonly retryAfterMs?: number;
  /** The blob store's own code and message, when the body was an Azure Storage error. */
  readonly storage?: StorageErrorDetail;

  constructor(facts: RequestFacts & { status: number; statusText: string; body?: string | Uint8Array; retryAfterMs?: number; storage?: StorageErrorDetail }, message?: string) {
    const storage = facts.storage ?? storageErrorDetail(facts.body);
    // An operator reads the code and message, not the XML they came in.
    const excerpt = storage ? `${storage.code}: ${storage.message}` : bodyExcerpt(facts.body);
    super(message ?? `${facts.method} ${facts.url} failed: ${facts.status} ${facts.statusText}${excerpt ? ` — ${excerpt}` : ''}`);
    this.name = 'ServiceError';
    this.status = facts.status;
    this.statusText = facts.statusText;
    this.method = facts.method;
    this.url = facts.url;
    this.bodyExcerpt = excerpt;
    this.attempts = facts.attempts;
    if (facts.retryAfterMs !== undefined) this.retryAfterMs = facts.retryAfterMs;
    if (storage) this.storage = storage;
  }
}

/** 407: a proxy (the role's, or one from the environment) refused the credentials or wants some. */
export class ProxyAuthenticationError extends ServiceError {
  /** `host:port` of the role's proxy; undefined for a proxy from the environment. */
  readonly proxy?: string;

  constructor(
    facts: RequestFacts & { status: number; statusText: string; body?: string | Uint8Array },
    proxy: string | { environment: true },
  ) {
    const role = typeof proxy === 'string';
    super(
      facts,
      role
        ? `The proxy ${proxy} refused the credentials (407 Proxy Authentication Required) for ${facts.method} ${facts.url}: ` +
            'check the proxy user name and password in Role Properties.'
        : `The proxy from the environment (HTTPS_PROXY / HTTP_PROXY) asked for credentials (407 Proxy Authentication Required) ` +
            `for ${facts.method} ${facts.url}: put the user name and password in Role Properties > Use proxy, or in the proxy URL.`,
    );
    this.name = 'ProxyAuthenticationError';
    if (role) this.proxy = proxy;
  }
}

/** No usable answer: connection refused or reset, DNS failure, TLS failure, body cut off. */
export class NetworkError extends Error {
  readonly method: string;
  readonly url: string;
  readonly code?: string;
  readonly attempts: number;

  constructor(facts: RequestFacts & { code?: string; detail: string; via?: string }, options?: { cause?: unknown }) {
    super(`${facts.method} ${facts.url} failed${facts.via ? ` (through proxy ${facts.via})` : ''}: ${facts.detail}`, options);
    this.name = 'NetworkError';
    this.method = facts.method;
    this.url = facts.url;
    if (facts.code !== undefined) this.code = facts.code;
    this.attempts = facts.attempts;
  }
}

/** No complete answer within the call's time limit. */
export class TimeoutError extends Error {
  readonly method: string;
  readonly url: string;
  readonly timeoutMs: number;
  readonly attempts: number;

  constructor(facts: RequestFacts & { timeoutMs: number }) {
    super(`${facts.method} ${facts.url} timed out after ${facts.timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.method = facts.method;
    this.url = facts.url;
    this.timeoutMs = facts.timeoutMs;
    this.attempts = facts.attempts;
  }
}

/** The failure (or one of its causes) had no answer behind it: no connection, a reset, a timeout. */
export function gotNoAnswer(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof NetworkError || e instanceof TimeoutError) return true;
  }
  return false;
}
