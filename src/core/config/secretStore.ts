// Where secrets live. In VS Code, src/ui implements SecretStore over context.secrets;
// headless, FileSecretStore keeps them in one owner-only (0600) JSON file.

import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';

export interface SecretStore {
  get(key: string): Promise<string | undefined>;
  store(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export class SecretFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretFileError';
  }
}

/**
 * Secrets in a JSON file `{ "<key>": "<value>" }`, mode 0600 in a 0700 folder (created
 * if missing). Every write replaces the file atomically (temp file, fsync, rename, fsync
 * of the folder), so a crash leaves the old or the new file, never a torn one. A file that
 * other users can read, or that another user owns, is refused rather than used.
 * Writes from this process are serialized; two processes must not share one file.
 */
export class FileSecretStore implements SecretStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly filePath: string) {
    if (!path.isAbsolute(filePath)) throw new SecretFileError(`Secret file path must be absolute: ${filePath}`);
  }

  get(key: string): Promise<string | undefined> {
    return this.serialize(async () => {
      const all = await this.readAll();
      return Object.prototype.hasOwnProperty.call(all, key) ? all[key] : undefined;
    });
  }

  store(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') return Promise.reject(new SecretFileError('A secret value must be a string'));
    return this.serialize(async () => {
      const all = await this.readAll();
      all[key] = value;
      await this.writeAll(all);
    });
  }

  delete(key: string): Promise<void> {
    return this.serialize(async () => {
      const all = await this.readAll();
      if (!Object.prototype.hasOwnProperty.call(all, key)) return;
      delete all[key];
      await this.writeAll(all);
    });
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async readAll(): Promise<Record<string, string>> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.filePath, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return {};
      if (isErrno(error, 'ELOOP')) throw new SecretFileError(`Secret file ${this.filePath} is a symbolic link; refusing to use it`);
      throw error;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new SecretFileError(`Secret file ${this.filePath} is not a regular file`);
      const uid = process.getuid?.();
      if (uid !== undefined && stat.uid !== uid) {
        throw new SecretFileError(
          `Secret file ${this.filePath} belongs to another user (uid ${stat.uid}); refusing to read it. ` +
            `Run as its owner, or remove it and import the connection file again.`,
        );
      }
      if ((stat.mode & 0o077) !== 0) {
        const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
        throw new SecretFileError(
          `Secret file ${this.filePath} can be read by other users (mode ${mode}); refusing to use it. ` +
            `Run: chmod 600 '${this.filePath}'`,
        );
      }
      const text = await handle.readFile({ encoding: 'utf8' });
      if (text.trim() === '') return {};
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // No parser message: it would quote secret content.
        throw new SecretFileError(`Secret file ${this.filePath} is damaged (not valid JSON)`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new SecretFileError(`Secret file ${this.filePath} is damaged (not a JSON object)`);
      }
      const result: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') result[k] = v;
      return result;
    } finally {
      await handle.close();
    }
  }

  private async writeAll(all: Record<string, string>): Promise<void> {
    const dir = path.dirname(this.filePath);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.${path.basename(this.filePath)}.${randomBytes(6).toString('hex')}.tmp`);
    // 'wx' + 0600: the temp file is never readable by others, not even for a moment.
    const handle = await fs.open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(all, null, 2) + '\n', { encoding: 'utf8' });
      await handle.chmod(0o600); // in case a umask or ACL widened it
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fs.rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await fs.rename(temp, this.filePath);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    await syncDirectory(dir);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
