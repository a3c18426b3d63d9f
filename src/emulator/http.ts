// The protocol layer: a small router over node:http, body reading with a size
// cap, and the JSON error shapes. Handlers return a Reply or throw HttpError.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InputError } from './validate';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { field?: string; headers?: Record<string, string>; oauth?: boolean } = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string): HttpError => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string): HttpError => new HttpError(409, 'conflict', message);
export const forbidden = (message: string): HttpError => new HttpError(403, 'forbidden', message);
export const badRequest = (field: string, message: string): HttpError =>
  new HttpError(400, 'invalid_request', `${field}: ${message}`, { field });

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A streamed body (instead of `body`), sent chunked. */
  stream?: NodeJS.ReadableStream;
}

/** jsonOptional: an empty body reads as {}. */
export type BodyKind = 'json' | 'jsonOptional' | 'form' | 'none';

export interface RouteContext<P = unknown> {
  req: IncomingMessage;
  params: Record<string, string>;
  /** The request path, without the query. */
  path: string;
  query: URLSearchParams;
  body: unknown;
  principal: P | undefined;
  routeName: string;
}

export interface RouteDef<P = unknown> {
  /** Stable name, used by fault injection (e.g. "resource.create"). */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string; // segments like :tenantId are parameters
  auth: boolean;
  body?: BodyKind;
  handler(ctx: RouteContext<P>): Promise<Reply> | Reply;
}

interface CompiledRoute<P> extends RouteDef<P> {
  regex: RegExp;
  keys: string[];
}

export interface RouteMatch<P> {
  route: RouteDef<P>;
  params: Record<string, string>;
}

export class Router<P> {
  private readonly routes: CompiledRoute<P>[] = [];

  add(...defs: RouteDef<P>[]): void {
    for (const def of defs) {
      const keys: string[] = [];
      const pattern = def.path
        .split('/')
        .map((seg) => {
          if (seg.startsWith(':')) {
            keys.push(seg.slice(1));
            return '([^/]+)';
          }
          return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('/');
      this.routes.push({ ...def, keys, regex: new RegExp(`^${pattern}/?$`) });
    }
  }

  list(): RouteDef<P>[] {
    return [...this.routes];
  }

  /** The route for method+path; a 404 or 405 HttpError when none. */
  match(method: string, pathname: string): RouteMatch<P> {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.regex.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        try {
          params[k] = decodeURIComponent(m[i + 1]);
        } catch {
          throw badRequest(k, 'is not a valid URL path segment');
        }
      });
      return { route: r, params };
    }
    if (pathMatched) throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${pathname}`);
    throw new HttpError(404, 'not_found', `no route for ${method} ${pathname}`);
  }
}

/** Reads the body up to `limit` bytes; 413 beyond. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new HttpError(413, 'payload_too_large', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'payload_too_large', `request body exceeds the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseBody(kind: BodyKind, req: IncomingMessage, raw: Buffer, oauth: boolean): unknown {
  if (kind === 'none') return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const text = raw.toString('utf8');
  if (kind === 'form') {
    if (type !== 'application/x-www-form-urlencoded') {
      throw new HttpError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded', { oauth });
    }
    return Object.fromEntries(new URLSearchParams(text));
  }
  if (raw.length === 0 && kind === 'jsonOptional') return {};
  if (raw.length === 0) throw new HttpError(400, 'invalid_request', 'body: a JSON object is required', { field: 'body' });
  if (type !== 'application/json') throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_request', 'body: not valid JSON', { field: 'body' });
  }
}

/** Turns any error into a reply; unknown errors become an opaque 500. */
export function errorReply(err: unknown, log: (msg: string) => void): Reply {
  if (err instanceof InputError) {
    return { status: 400, body: { error: 'invalid_request', message: err.message, field: err.field } };
  }
  if (err instanceof HttpError) {
    const body = err.extra.oauth
      ? { error: err.code, error_description: err.message }
      : { error: err.code, message: err.message, ...(err.extra.field ? { field: err.extra.field } : {}) };
    return { status: err.status, body, headers: err.extra.headers };
  }
  log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return { status: 500, body: { error: 'internal_error', message: 'internal error' } };
}

export function serialise(reply: Reply): { status: number; headers: Record<string, string>; payload: Buffer } {
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
  let payload: Buffer = Buffer.alloc(0);
  if (reply.body !== undefined) {
    if (Buffer.isBuffer(reply.body)) payload = reply.body;
    else {
      payload = Buffer.from(typeof reply.body === 'string' && headers['content-type'] ? reply.body : JSON.stringify(reply.body), 'utf8');
      headers['content-type'] ??= 'application/json; charset=utf-8';
    }
  }
  headers['content-length'] = String(payload.length);
  return { status: reply.status, headers, payload };
}

export function send(res: ServerResponse, reply: Reply): void {
  const { status, headers, payload } = serialise(reply);
  res.writeHead(status, headers);
  res.end(payload);
}
