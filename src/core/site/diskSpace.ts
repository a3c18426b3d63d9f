// A full disk under an export's folder (ENOSPC): recognised wherever it shows
// (a Node errno, ffmpeg's stderr) and reported as a DiskFullError that names
// the folder and what is free there, so that callers can wait for space.

import { statfs } from 'node:fs/promises';
import { DiskFullError } from './model';

/** What ffmpeg (and libc) print for a full disk or an exhausted quota. */
export const NO_SPACE_TEXT = /No space left on device|Disk quota exceeded/i;

/** True when the error (or one of its causes) says the disk is full: ENOSPC / EDQUOT or ffmpeg's words for them. */
export function isNoSpace(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DiskFullError) return true;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (NO_SPACE_TEXT.test(e.message)) return true;
  }
  return false;
}

/** Bytes an unprivileged writer may still use in the file system holding `folder`; undefined when it cannot be told. */
export async function freeBytes(folder: string): Promise<number | undefined> {
  try {
    const s = await statfs(folder);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** "12.3 MiB" (one decimal), or "unknown" space. */
export function mebibytes(bytes: number | undefined): string {
  return bytes === undefined ? 'unknown' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** The DiskFullError of `folder`, with the space free there now. */
export async function diskFullError(folder: string, cause?: unknown): Promise<DiskFullError> {
  return new DiskFullError(folder, await freeBytes(folder), undefined, cause);
}
