// clearance-role as an operator runs it, from the sources: one command to its
// end, and the sample users' passwords in files of their own (the sample site's
// users get random passwords when it is made).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSamplePasswords } from '../../../src/core/site';

export const ROOT = path.resolve(__dirname, '../../..');
export const MAIN = path.join(ROOT, 'src/cli/main.ts');

export interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `clearance-role <args>` to its end. */
export function cli(...args: string[]): Promise<Done> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One owner-only password file per sample user, by login name. */
export async function samplePasswordFiles(siteDir: string, dir: string): Promise<Record<string, string>> {
  const passwords = await readSamplePasswords(siteDir);
  const files: Record<string, string> = {};
  for (const [user, password] of Object.entries(passwords)) {
    files[user] = path.join(dir, `password-${user}`);
    fs.writeFileSync(files[user], `${password}\n`, { mode: 0o600 });
  }
  return files;
}
