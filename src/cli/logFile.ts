// The detached runner's log: one file in the state folder, capped in size and
// rotated (role.log, role.log.1 … role.log.<keep>), so a role that runs for
// months never fills the disk. Writes are synchronous: a line logged just
// before a crash is on disk.
import * as fs from 'node:fs';
import path from 'node:path';

const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;
const DEFAULT_KEEP = 3;

export class RotatingLog {
  private size: number;

  constructor(
    readonly file: string,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
    private readonly keep = DEFAULT_KEEP,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line) + 1;
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    fs.appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
    this.size += bytes;
  }

  private rotate(): void {
    fs.rmSync(`${this.file}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      if (fs.existsSync(`${this.file}.${i}`)) fs.renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
    }
    fs.renameSync(this.file, `${this.file}.1`);
    this.size = 0;
  }
}

/** The newest `lines` lines of a log file (and of its rotated predecessor when the current one is short). */
export async function tailLog(file: string, lines: number): Promise<string[]> {
  const read = async (f: string): Promise<string[]> => (await fs.promises.readFile(f, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  let out = await read(file);
  if (out.length < lines) out = [...(await read(`${file}.1`)), ...out];
  return out.slice(-lines);
}
