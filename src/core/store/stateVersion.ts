// Every state journal carries the version of its layout. A newer role migrates
// older state step by step before anything else reads it; an older role refuses
// state written by a newer one (and changes nothing) instead of misreading it.
import type Keyv from 'keyv';

const VERSION_KEY = 'stateSchemaVersion';

export class StateTooNew extends Error {
  readonly code = 'StateTooNew';
  constructor(
    readonly file: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(
      `The role state ${file} was written by a newer version of the role (state version ${found}; this one knows up to ${known}). ` +
        'Update Clearance Console / clearance-role. The state was left as it is.',
    );
    this.name = 'StateTooNew';
  }
}

/** A step from version n-1 to n (index n-1 of the list). */
export type Migration = (state: Keyv) => Promise<void>;

/**
 * Brings `state` to `migrations.length` (state without a version is version 0, as
 * written before versions were kept). Answers the version found.
 */
export async function migrateState(state: Keyv, file: string, migrations: readonly Migration[]): Promise<number> {
  const current = migrations.length;
  const raw: unknown = await state.get(VERSION_KEY);
  const found = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? raw : 0;
  if (found > current) throw new StateTooNew(file, found, current);
  for (let v = found; v < current; v++) {
    await migrations[v](state);
    if (!(await state.set(VERSION_KEY, v + 1))) throw new Error(`Could not record state version ${v + 1} in ${file}.`);
  }
  return found;
}
