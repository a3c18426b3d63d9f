// Finding and running ffmpeg. The path is always passed in (never looked up
// behind the caller's back) so tests and the headless runner pick their own.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { NO_SPACE_TEXT } from './diskSpace';
import { SiteError } from './model';

export const DEBIAN_FFMPEG = '/usr/bin/ffmpeg';

export interface ResolveFfmpegOptions {
  /** Checked first, in order (e.g. a user setting). */
  candidates?: string[];
  /** Folders from which `@ffmpeg-installer/ffmpeg` is resolved; default the working directory. */
  searchFrom?: string[];
  /** The system binary tried before the npm one; default DEBIAN_FFMPEG. */
  systemPath?: string;
}

/**
 * Debian's /usr/bin/ffmpeg when present (newer), else the static binary of
 * npm `@ffmpeg-installer/ffmpeg` if installed, else a SiteError FfmpegMissing
 * saying how to get one.
 */
export function resolveFfmpeg(opts: ResolveFfmpegOptions = {}): string {
  for (const candidate of [...(opts.candidates ?? []), opts.systemPath ?? DEBIAN_FFMPEG]) {
    if (isExecutable(candidate)) return candidate;
  }
  for (const dir of opts.searchFrom ?? [process.cwd()]) {
    try {
      // createRequire keeps bundlers from trying to resolve the optional package at build time.
      const installer = createRequire(path.join(path.resolve(dir), 'noop.js'))('@ffmpeg-installer/ffmpeg') as { path?: unknown };
      if (typeof installer.path === 'string' && isExecutable(installer.path)) return installer.path;
    } catch {
      // not installed there
    }
  }
  throw new SiteError(
    'FfmpegMissing',
    'ffmpeg was not found. Install it with `apt-get install ffmpeg` (Debian/Ubuntu), ' +
      'or `npm install @ffmpeg-installer/ffmpeg` in the project, or give the path of an ffmpeg binary.',
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface RunFfmpegOptions {
  signal?: AbortSignal;
}

/** Keeps only the end of ffmpeg's stderr: errors come last. */
const STDERR_TAIL = 4000;

/**
 * Runs ffmpeg to completion. Rejects with the tail of stderr on a non-zero exit
 * or when ffmpeg reports a full disk (then with `code` ENOSPC, whatever its exit), with an AbortError (after killing ffmpeg) when the signal fires.
 */
export function runFfmpeg(ffmpegPath: string, args: readonly string[], opts: RunFfmpegOptions = {}): Promise<void> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      windowsHide: true,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(`could not start ffmpeg (${ffmpegPath}): ${err.message}`));
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (aborted && signal) reject(abortError(signal));
      // A full disk while writing the trailer still exits 0 (seen with ffmpeg 4 and 5), leaving a truncated file.
      else if (NO_SPACE_TEXT.test(stderr)) reject(Object.assign(new Error(`ffmpeg could not write its output (exit ${code ?? sig}): ${stderr.trim()}`), { code: 'ENOSPC' }));
      else if (code === 0) resolve();
      else reject(new Error(`ffmpeg exited with ${code ?? sig}: ${stderr.trim() || '(no output)'}`));
    });
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error('The operation was aborted', { cause: reason });
  err.name = 'AbortError';
  return err;
}
