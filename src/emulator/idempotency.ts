// Idempotent creation ([ours] Idempotency-Key header): a client that retries a
// create after a lost answer, or after its own crash, gets the object the first
// call made, never a second one, across service restarts too.
//
// The key record (with the id the object will have) is written before the
// object, so a crash between the two writes is finished by the retry with the
// same id. Deleting or purging an object marks its key records gone (410).
import * as crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN, IDEMPOTENT_REPLAYED_HEADER } from '../core/clearance/api';
import type { Clock } from './clock';
import { HttpError, type Reply } from './http';
import type { Collection } from './metadataStore';

export interface IdempotencyRecord {
  clientId: string;
  route: string;
  objectId: string;
  /** SHA-256 of method, path and body of the first call. */
  requestHash: string;
  createdUtc: string;
  /** Set when the object was deleted or purged. */
  goneUtc?: string;
}

/** Gone key records are kept this long, then forgotten. */
const GONE_RECORD_TTL_MS = 7 * 24 * 3600 * 1000;

export interface IdempotentCreate {
  req: IncomingMessage;
  clientId: string;
  route: string;
  /** What identifies the request besides its key: path and parsed body. */
  path: string;
  body: unknown;
  /** The current answer for an existing object, or undefined when it no longer exists. */
  existing(objectId: string): Reply | undefined;
  /** Creates the object with this id and answers it (201). */
  create(objectId: string): Promise<Reply>;
}

export class IdempotencyKeys {
  /** Calls in progress per key record: a concurrent retry waits for the first. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly records: Collection<IdempotencyRecord>,
    private readonly clock: Clock,
  ) {}

  /** The request's Idempotency-Key, checked; undefined when absent. */
  static keyOf(req: IncomingMessage): string | undefined {
    const raw = req.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
    if (raw === undefined) return undefined;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (!IDEMPOTENCY_KEY_PATTERN.test(value)) {
      throw new HttpError(400, 'invalid_request', `${IDEMPOTENCY_KEY_HEADER}: must be 1-255 visible ASCII characters without spaces`, {
        field: IDEMPOTENCY_KEY_HEADER,
      });
    }
    return value;
  }

  /** Runs a create under the request's Idempotency-Key, if it has one. */
  async run(c: IdempotentCreate): Promise<Reply> {
    const key = IdempotencyKeys.keyOf(c.req);
    if (key === undefined) return c.create(crypto.randomUUID());
    const recordId = crypto.createHash('sha256').update(`${c.clientId}\n${c.route}\n${key}`).digest('hex');
    for (;;) {
      const running = this.inFlight.get(recordId);
      if (!running) break;
      await running.catch(() => undefined);
    }
    const work = this.runKeyed(recordId, c);
    this.inFlight.set(recordId, work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(recordId);
    }
  }

  private async runKeyed(recordId: string, c: IdempotentCreate): Promise<Reply> {
    const requestHash = crypto
      .createHash('sha256')
      .update(`${c.req.method ?? ''} ${c.path}\n${JSON.stringify(c.body ?? null)}`)
      .digest('hex');
    const rec = this.records.get(recordId);
    if (rec) {
      if (rec.requestHash !== requestHash) {
        throw new HttpError(
          422,
          'idempotency_key_reused',
          `${IDEMPOTENCY_KEY_HEADER}: this key was first used with a different path or body; use a new key for a different request`,
          { field: IDEMPOTENCY_KEY_HEADER },
        );
      }
      if (rec.goneUtc) {
        throw new HttpError(410, 'gone', `${IDEMPOTENCY_KEY_HEADER}: ${rec.objectId}, created with this key, was deleted or purged; use a new key`, {
          field: IDEMPOTENCY_KEY_HEADER,
        });
      }
      const existing = c.existing(rec.objectId);
      if (existing) return { ...existing, status: 200, headers: { ...existing.headers, [IDEMPOTENT_REPLAYED_HEADER.toLowerCase()]: 'true' } };
      // The first call crashed between its two writes: finish it with the same id.
      return c.create(rec.objectId);
    }
    const objectId = crypto.randomUUID();
    await this.records.put(recordId, { clientId: c.clientId, route: c.route, objectId, requestHash, createdUtc: this.clock.now().toISOString() });
    return c.create(objectId);
  }

  /** Marks the key records of deleted or purged objects. */
  async markGone(objectIds: Iterable<string>): Promise<void> {
    const ids = new Set(objectIds);
    if (ids.size === 0) return;
    const at = this.clock.now().toISOString();
    const hit = [...this.records.scan()].filter(([, rec]) => ids.has(rec.objectId) && !rec.goneUtc);
    for (const [id, rec] of hit) await this.records.put(id, { ...rec, goneUtc: at });
  }

  /** Forgets key records whose object has been gone for a week. */
  async sweep(): Promise<void> {
    const cutoff = this.clock.now().getTime() - GONE_RECORD_TTL_MS;
    const old = [...this.records.scan()].filter(([, rec]) => rec.goneUtc !== undefined && Date.parse(rec.goneUtc) < cutoff).map(([id]) => id);
    for (const id of old) await this.records.delete(id);
  }
}
