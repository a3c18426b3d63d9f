// What the "Send video / Send snapshot" forms need besides dialogs: the cameras
// to choose from, local times typed by an operator, and the range checks the
// role would make, said before the form is sent. Pure, so it is tested with
// fixed input; the local offset is a parameter (default: the machine's).
import { MAX_EXPORT_RANGE_MS, type Area, type Camera, type Federation } from '../site/model';
import { formatLocal, machineOffsetMinutes } from './viewFormat';

export { MAX_EXPORT_RANGE_MS };

export interface CameraChoice {
  id: string;
  /** The camera's name as the site gives it (plain text). */
  label: string;
  /** Where it is: `Area · Federation`, or empty. */
  description: string;
}

/** Every camera of the site, sorted by where it is, then by name. */
export function cameraChoices(model: { federations: Federation[]; areas: Area[]; cameras: Camera[] }): CameraChoice[] {
  const areas = new Map(model.areas.map((a) => [a.id, a.name]));
  const federations = new Map(model.federations.map((f) => [f.id, f.name]));
  return model.cameras
    .map((c) => {
      const place = [c.areaId && areas.get(c.areaId), c.federationId && federations.get(c.federationId)].filter(Boolean).join(' · ');
      return { id: c.id, label: c.name || c.id, description: place };
    })
    .sort((a, b) => a.description.localeCompare(b.description) || a.label.localeCompare(b.label));
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * An instant typed by an operator: local wall-clock time `YYYY-MM-DD HH:MM[:SS]`
 * (at the machine's offset, or `offsetMinutes`), or ISO 8601 with `Z` or an
 * offset. Returns the Date, or a message saying what is expected.
 */
export function parseOperatorTime(text: string, offsetMinutes?: number): Date | string {
  const t = text.trim();
  const expected = 'Type a local time as YYYY-MM-DD HH:MM (for example 2026-12-01 14:05), or ISO 8601 with Z or an offset.';
  if (!t) return expected;
  const m = LOCAL.exec(t);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
    const wall = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
    const check = new Date(wall);
    if (check.getUTCMonth() !== mo! - 1 || check.getUTCDate() !== d! || h! > 23 || mi! > 59 || s! > 59) return `${t} is no date and time. ${expected}`;
    // The offset in force at that wall time: try the offset of the instant it would be, once more for a change of offset in between.
    let offset = offsetMinutes ?? machineOffsetMinutes(new Date(wall));
    if (offsetMinutes === undefined) offset = machineOffsetMinutes(new Date(wall - offset * 60_000));
    return new Date(wall - offset * 60_000);
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(t)) {
    const d = new Date(t);
    if (!Number.isNaN(d.getTime())) return d;
  }
  return `${t} is no date and time. ${expected}`;
}

/** The message for a video range the role would refuse, or undefined when it is fine. */
export function videoRangeProblem(from: Date, to: Date): string | undefined {
  if (to.getTime() <= from.getTime()) return 'The end must come after the start.';
  if (to.getTime() - from.getTime() > MAX_EXPORT_RANGE_MS) {
    const hours = (to.getTime() - from.getTime()) / 3_600_000;
    return `At most 24 h of video per export; this range is ${hours.toFixed(1)} h.`;
  }
  return undefined;
}

/** A Date as an operator types it back: local wall time, minutes, no seconds when they are 0. */
export function operatorTimeText(at: Date, offsetMinutes?: number): string {
  const text = formatLocal(at.toISOString(), offsetMinutes); // `YYYY-MM-DD HH:MM:SS +01:00`
  const [date, time] = text.split(' ');
  return `${date} ${time!.endsWith(':00') ? time!.slice(0, 5) : time}`;
}
