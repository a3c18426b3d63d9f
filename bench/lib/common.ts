// What every benchmark of bench/run.mjs shares: flags, statistics, and the one
// report each writes (rows of measured value, target, pass/miss, ratio) as JSON
// for the runner (--json <file>) and as a table on stdout.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

export const MiB = 1024 * 1024;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Value of `--name <v>`, or undefined. */
export function opt(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
export function num(name: string, fallback: number): number {
  const v = Number(opt(name) ?? fallback);
  if (!(v > 0)) throw new Error(`--${name}: must be a positive number`);
  return v;
}
/** `--name 2,10,50` as numbers. */
export function nums(name: string, fallback: number[]): number[] {
  const v = opt(name);
  if (v === undefined) return fallback;
  const list = v.split(',').map(Number);
  if (list.some((x) => !(x > 0))) throw new Error(`--${name}: positive numbers, comma-separated`);
  return list;
}
/** --quick: small sizes and fewer repeats (smoke runs). */
export const QUICK = flag('quick');

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
/** `median (min–max)` with `digits` decimals. */
export function spread(xs: readonly number[], digits = 1): string {
  if (xs.length === 0) return '—';
  if (xs.length === 1) return xs[0]!.toFixed(digits);
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

export interface BenchRow {
  /** What was measured. */
  name: string;
  /** The measured value, with its unit. */
  value: string;
  /** The target in words ('≥ 1.0× uploadFile'); absent: reported, not judged. */
  target?: string;
  /** Against the target; absent when there is none. */
  pass?: boolean;
  /** The ratio the target is about (`1.07×`), when there is one. */
  ratio?: string;
}

export interface BenchReport {
  bench: string;
  title: string;
  /** How it was run: sizes, repeats, what the peers are. */
  setup: string;
  rows: BenchRow[];
  notes: string[];
  seconds: number;
}

export class Report {
  readonly rows: BenchRow[] = [];
  readonly notes: string[] = [];
  private readonly t0 = performance.now();
  setup = '';

  constructor(
    readonly bench: string,
    readonly title: string,
  ) {}

  /** A row; with a target it is judged (pass or miss), with a ratio alone it is reported. */
  row(name: string, value: string, o: { target?: string; pass?: boolean; ratio?: number | string } = {}): void {
    const ratio = o.ratio === undefined ? undefined : typeof o.ratio === 'number' ? `${o.ratio.toFixed(2)}×` : o.ratio;
    const judged = o.target !== undefined && o.pass !== undefined;
    this.rows.push({ name, value, ...(judged ? { target: o.target, pass: o.pass } : {}), ...(ratio ? { ratio } : {}) });
    const mark = judged ? (o.pass ? 'pass' : 'MISS') : '    ';
    console.log(`  ${mark} ${name.padEnd(52)} ${value}${ratio ? `  [${ratio}]` : ''}${judged ? `  (target ${o.target})` : ''}`);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(`  note: ${text}`);
  }

  get failed(): boolean {
    return this.rows.some((r) => r.pass === false);
  }

  /** Writes the JSON for the runner (--json <file>); exit code 1 when a target was missed. */
  finish(): number {
    const out: BenchReport = { bench: this.bench, title: this.title, setup: this.setup, rows: this.rows, notes: this.notes, seconds: (performance.now() - this.t0) / 1000 };
    const file = opt('json');
    if (file) fs.writeFileSync(file, JSON.stringify(out, null, 2));
    console.log(`${this.bench}: ${this.failed ? 'MISS' : 'PASS'} in ${out.seconds.toFixed(1)} s`);
    return this.failed ? 1 : 0;
  }
}

/** Runs `main`; exit code its answer, 2 on an exception. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
}

/** A file of `bytes` random bytes; its SHA-256 (hex) is written next to it as `<file>.sha256`. */
export function writeRandomFile(file: string, bytes: number): string {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = Buffer.allocUnsafe(8 * MiB);
    for (let left = bytes; left > 0; left -= chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, left));
      crypto.randomFillSync(part);
      hash.update(part);
      fs.writeSync(fd, part);
    }
  } finally {
    fs.closeSync(fd);
  }
  const sha = hash.digest('hex');
  fs.writeFileSync(`${file}.sha256`, sha);
  return sha;
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Resident set size of a process from /proc (bytes), or undefined when it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of a process from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], [12]: utime, stime (after pid and comm: 14th and 15th of the line)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
