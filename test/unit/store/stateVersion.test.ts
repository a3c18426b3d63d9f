// State files carry a schema version: a role migrates older state and refuses
// newer state with a clear message, leaving it as it was. Real journal files,
// a real role over a local folder site (opening talks to no service).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Keyv from 'keyv';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { Role } from '../../../src/core/role/role';
import { LocalFolderSite, SAMPLE_SITE_FILE } from '../../../src/core/site';
import { JournalStore } from '../../../src/core/store/journalStore';
import { migrateState, StateTooNew } from '../../../src/core/store/stateVersion';

describe('state schema version', function () {
  this.timeout(30_000);
  let dir: string;
  let stateDir: string;
  const open = (): Promise<Role> =>
    Role.open({ stateDir, site: new LocalFolderSite(path.join(dir, 'site'), ''), secrets: new FileSecretStore(path.join(stateDir, 'secrets.json')), lockFile: path.join(dir, 'site', '.clearance-role.lock') });
  /** Reads (or, with a value, writes) a key of a journal's namespace, the way the role keeps it. */
  const journalKey = async (file: string, namespace: string, key: string, value?: unknown): Promise<unknown> => {
    const journal = new JournalStore({ path: file });
    try {
      const kv = new Keyv({ store: journal, namespace });
      if (value !== undefined) await kv.set(key, value);
      return await kv.get(key);
    } finally {
      await journal.disconnect();
    }
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-state-version-'));
    stateDir = path.join(dir, 'state');
    fs.mkdirSync(path.join(dir, 'site'));
    fs.writeFileSync(path.join(dir, 'site', 'site.json'), JSON.stringify(SAMPLE_SITE_FILE));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the version into new state, and migrates state written before versions were kept', async () => {
    await (await open()).close();
    const file = path.join(stateDir, 'role-state.jsonl');
    assert.equal(await journalKey(file, 'role', 'stateSchemaVersion'), 1);
    assert.equal(await journalKey(path.join(stateDir, 'sessions.jsonl'), 'meta', 'stateSchemaVersion'), 1);

    // A journal of the first releases: no version key.
    const legacy = path.join(dir, 'legacy.jsonl');
    const journal = new JournalStore({ path: legacy });
    const kv = new Keyv({ store: journal, namespace: 'role' });
    await kv.set('role.properties', { pollingIntervalSeconds: 60 });
    const steps: number[] = [];
    assert.equal(await migrateState(kv, legacy, [async () => void steps.push(1), async () => void steps.push(2)]), 0);
    assert.deepEqual(steps, [1, 2], 'every step, in order');
    assert.equal(await kv.get('stateSchemaVersion'), 2);
    assert.equal(await migrateState(kv, legacy, [async () => void steps.push(1), async () => void steps.push(2)]), 2);
    assert.deepEqual(steps, [1, 2], 'nothing to do the second time');
    await journal.disconnect();
  });

  it('refuses state written by a newer role, naming the file and both versions, and leaves it untouched', async () => {
    await (await open()).close();
    const file = path.join(stateDir, 'role-state.jsonl');
    await journalKey(file, 'role', 'stateSchemaVersion', 7);
    await journalKey(file, 'role', 'stateSchemaVersion'); // opening compacts: the file is now as a newer role left it
    const before = fs.readFileSync(file);
    const error = await open().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof StateTooNew, String(error));
    assert.match(error.message, /role-state\.jsonl was written by a newer version of the role \(state version 7; this one knows up to 1\)/);
    assert.deepEqual(fs.readFileSync(file), before, 'not one byte changed');
    assert.equal(await journalKey(file, 'role', 'stateSchemaVersion'), 7);
    // The lock was let go: the site is not left held.
    assert.equal(fs.existsSync(path.join(dir, 'site', '.clearance-role.lock')), false);
  });
});
