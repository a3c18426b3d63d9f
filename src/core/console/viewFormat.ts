// Text the console's views show for times, sizes, rates and durations. Pure and
// locale-free (a tree item's description must read the same in every window),
// so every function here is tested with fixed input: the local time zone is a
// parameter, never read from the machine unless the caller leaves it out.

/** Options every view model takes. */
export interface ViewOptions {
  /**
   * Minutes east of UTC used for local times (60 for UTC+01:00). Default: the
   * machine's offset at each formatted instant (so summer and winter times differ).
   */
  timeZoneOffsetMinutes?: number;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** The machine's offset (minutes east of UTC) at an instant. */
export function machineOffsetMinutes(at: Date): number {
  const offset = -at.getTimezoneOffset();
  return offset === 0 ? 0 : offset; // no -0
}

/** `+01:00`, `-03:30`, `+00:00`. */
export function formatOffset(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(Math.round(offsetMinutes));
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * An ISO instant as local wall-clock time with its UTC offset, e.g.
 * `2026-12-01 14:05:09 +01:00`. Text that is no valid time is returned as it is.
 */
export function formatLocal(iso: string, timeZoneOffsetMinutes?: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const offset = timeZoneOffsetMinutes ?? machineOffsetMinutes(new Date(t));
  const d = new Date(t + Math.round(offset) * 60_000);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${date} ${time} ${formatOffset(offset)}`;
}

/** How long ago, from milliseconds elapsed: `just now`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function formatAge(elapsedMs: number): string {
  if (!Number.isFinite(elapsedMs) || elapsedMs < 60_000) return 'just now';
  const minutes = Math.floor(elapsedMs / 60_000);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** Seconds as `m:ss` under an hour, `h:mm:ss` from an hour; rounded up (a countdown never shows 0:00 early). */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.ceil(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** Bytes per second in decimal units (as the bandwidth property's Mbps): `3.1 MB/s`; under 0.1 MB/s `42 kB/s`. */
export function formatRate(bytesPerSecond: number): string {
  const rate = Math.max(0, bytesPerSecond);
  if (rate >= 100_000) return `${(rate / 1_000_000).toFixed(1)} MB/s`;
  return `${Math.round(rate / 1000)} kB/s`;
}

/** A size in decimal units: `512 B`, `42.0 kB`, `3.1 MB`, `1.2 GB`. */
export function formatBytes(bytes: number): string {
  const b = Math.max(0, bytes);
  if (b < 1000) return `${Math.round(b)} B`;
  if (b < 1_000_000) return `${(b / 1000).toFixed(1)} kB`;
  if (b < 1_000_000_000) return `${(b / 1_000_000).toFixed(1)} MB`;
  return `${(b / 1_000_000_000).toFixed(1)} GB`;
}

/** Whole percent done, rounded down (99.9 % is not shown as done), 0–100. */
export function percentDone(sent: number, total: number): number {
  if (total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((sent / total) * 100)));
}

/** `1 camera`, `3 cameras`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Text for a notification or dialog that must stay plain: VS Code turns
 * `[label](command:…)` in a notification into a link that runs a command, and
 * names and messages may come from the service. Breaking the `](` is enough;
 * `$(name)` (an icon) is broken too.
 */
export function plainMessage(text: string): string {
  return text.replace(/\]\s*\(/g, '] (').replace(/\$\(/g, '$ (');
}

/**
 * Text for a quick pick's label, description or detail, which render `$(name)`
 * as an icon: escaped, it shows as typed. (Quick picks render no links.)
 */
export function pickText(text: string): string {
  return text.replace(/\$\(/g, '\\$(');
}
