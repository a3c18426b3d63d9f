// Fault injection per route, so a client's retry and recovery paths can be
// seen working. A fault names a route (exact, a "prefix.*" pattern, or "*"),
// a kind, and optionally how many times it fires.
import { randomUUID } from 'node:crypto';
import { EMULATOR_FAULT_KINDS, type EmulatorFault, type EmulatorFaultKind, type EmulatorFaultSpec } from '../core/clearance/api';
import { InputError, int, oneOf, optional, obj, parse, str } from './validate';

export const FAULT_KINDS = EMULATOR_FAULT_KINDS;
export type FaultKind = EmulatorFaultKind;
export type FaultSpec = EmulatorFaultSpec;
export type Fault = EmulatorFault;

const ROUTE_PATTERN = /^(\*|[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*(\.\*)?)$/;

export const faultSpecCheck = obj({
  route: str({ max: 100, pattern: ROUTE_PATTERN, patternText: 'a route name, "prefix.*" or "*"' }),
  kind: oneOf(FAULT_KINDS),
  status: optional(int({ min: 400, max: 599 })),
  retryAfterSeconds: optional(int({ min: 0, max: 3600 })),
  latencyMs: optional(int({ min: 0, max: 120000 })),
  code: optional(str({ max: 64, pattern: /^[A-Za-z]+$/, patternText: 'an Azure error code' })),
  count: optional(int({ min: 1, max: 1000000 })),
});

export function checkFaultSpec(body: unknown): FaultSpec {
  const spec = parse(faultSpecCheck, body) as FaultSpec;
  if (spec.kind === 'status') {
    if (spec.status === undefined) throw new InputError('status', 'is required for a status fault (429, 500 or 503)');
    if (![429, 500, 503].includes(spec.status)) throw new InputError('status', 'must be 429, 500 or 503');
  }
  if (spec.kind === 'latency' && spec.latencyMs === undefined) throw new InputError('latencyMs', 'is required for a latency fault');
  return spec;
}

/**
 * Parses the CLI form `<route>=<kind>[,key=value…]`, where kind is 429, 500,
 * 503, latency, reset, tokenExpiry or blockReject; keys: count, retryAfter, ms,
 * status, code. Example: `resource.complete=503,count=2,retryAfter=1`.
 */
export function parseFaultFlag(text: string): FaultSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InputError('--fault', `"${text}" must look like <route>=<kind>[,count=N,…]`);
  const route = text.slice(0, eq);
  const [kindText, ...opts] = text.slice(eq + 1).split(',');
  const spec: Record<string, unknown> = { route };
  if (/^\d{3}$/.test(kindText)) {
    spec.kind = 'status';
    spec.status = Number(kindText);
  } else spec.kind = kindText;
  const keys: Record<string, string> = { count: 'count', retryAfter: 'retryAfterSeconds', ms: 'latencyMs', status: 'status', code: 'code' };
  for (const o of opts) {
    const [k, v] = o.split('=');
    if (!keys[k] || v === undefined) throw new InputError('--fault', `unknown option "${o}" (use count, retryAfter, ms, status, code)`);
    spec[keys[k]] = k === 'code' ? v : Number(v);
  }
  try {
    return checkFaultSpec(spec);
  } catch (err) {
    if (err instanceof InputError) throw new InputError('--fault', `${text}: ${err.message}`);
    throw err;
  }
}

function matches(pattern: string, route: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return route.startsWith(pattern.slice(0, -1));
  return pattern === route;
}

export class FaultPlan {
  private faults: Fault[] = [];
  /** Requests seen per route (every request asks the plan, faults or not): how a test counts retries. */
  private seen = new Map<string, number>();

  add(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: randomUUID(), fired: 0 };
    this.faults.push(fault);
    return { ...fault };
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  remove(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== before;
  }

  clear(): void {
    this.faults = [];
  }

  /** Requests seen per route name since the start (or the last resetRequestCounts). */
  requestCounts(): Record<string, number> {
    return Object.fromEntries(this.seen);
  }

  resetRequestCounts(): void {
    this.seen.clear();
  }

  /**
   * The faults that fire for one request of `route`: every matching latency
   * fault, then at most one fault of the other kinds accepted here. Each one
   * returned uses up one of its count.
   */
  take(route: string, kinds: readonly FaultKind[]): Fault[] {
    this.seen.set(route, (this.seen.get(route) ?? 0) + 1);
    const fired: Fault[] = [];
    let terminal = false;
    for (const f of this.faults) {
      if (!matches(f.route, route) || !kinds.includes(f.kind)) continue;
      if (f.kind !== 'latency') {
        if (terminal) continue;
        terminal = true;
      }
      f.fired++;
      fired.push({ ...f });
    }
    this.faults = this.faults.filter((f) => f.count === undefined || f.fired < f.count);
    return fired;
  }
}
