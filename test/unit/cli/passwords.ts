// The sample site's users get random passwords when it is made; scripted
// commands read a user's password from a file of its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSamplePasswords } from '../../../src/core/site';

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
