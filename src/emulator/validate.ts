// Small input checks for request bodies. Each check gets the value and the
// field path, and throws InputError naming the field on bad input.

export class InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export type Check<T> = (value: unknown, field: string) => T;

const OPTIONAL = Symbol('optional');
type OptionalCheck<T> = Check<T | undefined> & { [OPTIONAL]: true };

export function optional<T>(check: Check<T>): OptionalCheck<T> {
  const c = ((value: unknown, field: string) => (value === undefined || value === null ? undefined : check(value, field))) as OptionalCheck<T>;
  c[OPTIONAL] = true;
  return c;
}

export function str(opts: { min?: number; max?: number; pattern?: RegExp; patternText?: string } = {}): Check<string> {
  const { min = 1, max = 1024 } = opts;
  return (v, field) => {
    if (typeof v !== 'string') throw new InputError(field, 'must be a string');
    if (v.length < min) throw new InputError(field, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
    if (v.length > max) throw new InputError(field, `must be at most ${max} characters`);
    if (opts.pattern && !opts.pattern.test(v)) throw new InputError(field, `must be ${opts.patternText ?? `like ${opts.pattern}`}`);
    return v;
  };
}

/** Text that may be empty. */
export function text(max = 4096): Check<string> {
  return str({ min: 0, max });
}

export function int(opts: { min?: number; max?: number } = {}): Check<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = opts;
  return (v, field) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new InputError(field, 'must be an integer');
    if (v < min || v > max) throw new InputError(field, `must be between ${min} and ${max}`);
    return v;
  };
}

export function bool(): Check<boolean> {
  return (v, field) => {
    if (typeof v !== 'boolean') throw new InputError(field, 'must be true or false');
    return v;
  };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 date-time with a zone; answered normalised to UTC. */
export function isoDate(): Check<string> {
  return (v, field) => {
    if (typeof v !== 'string' || !ISO.test(v) || Number.isNaN(Date.parse(v))) {
      throw new InputError(field, 'must be an ISO 8601 date-time with a time zone, e.g. 2024-05-01T12:00:00Z');
    }
    return new Date(v).toISOString();
  };
}

export function oneOf<T extends string>(values: readonly T[]): Check<T> {
  return (v, field) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new InputError(field, `must be one of ${values.join(', ')}`);
    return v as T;
  };
}

export function arr<T>(item: Check<T>, opts: { min?: number; max?: number } = {}): Check<T[]> {
  const { min = 0, max = 1000 } = opts;
  return (v, field) => {
    if (!Array.isArray(v)) throw new InputError(field, 'must be an array');
    if (v.length < min) throw new InputError(field, `must have at least ${min} item${min === 1 ? '' : 's'}`);
    if (v.length > max) throw new InputError(field, `must have at most ${max} items`);
    return v.map((x, i) => item(x, `${field}[${i}]`));
  };
}

export function record<T>(value: Check<T>, opts: { maxKeys?: number } = {}): Check<Record<string, T>> {
  const { maxKeys = 100 } = opts;
  return (v, field) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(field, 'must be an object');
    const entries = Object.entries(v);
    if (entries.length > maxKeys) throw new InputError(field, `must have at most ${maxKeys} keys`);
    const out: Record<string, T> = {};
    for (const [k, x] of entries) out[k] = value(x, `${field}.${k}`);
    return out;
  };
}

type Shape = Record<string, Check<unknown>>;
type Out<S extends Shape> = { [K in keyof S as S[K] extends OptionalCheck<unknown> ? never : K]: ReturnType<S[K]> } & {
  [K in keyof S as S[K] extends OptionalCheck<unknown> ? K : never]?: Exclude<ReturnType<S[K]>, undefined>;
};

/** An object with the given fields; unknown fields are dropped. */
export function obj<S extends Shape>(shape: S): Check<Out<S>> {
  return (v, field) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(field || 'body', 'must be a JSON object');
    const src = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, check] of Object.entries(shape)) {
      const path = field ? `${field}.${k}` : k;
      if (!(OPTIONAL in check) && (src[k] === undefined || src[k] === null)) throw new InputError(path, 'is required');
      const value = check(src[k], path);
      if (value !== undefined) out[k] = value;
    }
    return out as Out<S>;
  };
}

/** Checks a whole request body (field paths start at the top level). */
export function parse<T>(check: Check<T>, body: unknown): T {
  return check(body, '');
}
