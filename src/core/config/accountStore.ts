// The connected Clearance account: public facts in keyv state, the private key and API
// key in a SecretStore. Replacing an account is ordered so that a failure or a crash at
// any step leaves the previous account whole and usable.

import { randomUUID, type KeyObject } from 'node:crypto';
import type Keyv from 'keyv';
import type { SigningCredentials } from '../clearance/assertion';
import { parseConnectionFile, privateKeyFromJwk, type AccountInfo, type AccountSecret } from './connectionFile';
import { Emitter } from '../events';
import type { FieldIssue } from './fieldErrors';
import type { SecretStore } from './secretStore';

/** What is kept in state: the public facts and the name of the secret that goes with them. */
interface AccountRecord {
  info: AccountInfo;
  secretKey: string;
}

export interface AccountChange {
  previous?: AccountInfo;
  current?: AccountInfo;
  reason: 'imported' | 'disconnected';
}

export type ImportResult =
  | { ok: true; account: AccountInfo; warnings: FieldIssue[] }
  | { ok: false; errors: FieldIssue[]; warnings: FieldIssue[] };

export interface AccountCredentials {
  privateKey: KeyObject;
  keyId: string;
  apiKey: string;
}

export class AccountNotConnectedError extends Error {
  constructor() {
    super('No Clearance account is connected: import the JSON connection file first.');
    this.name = 'AccountNotConnectedError';
  }
}

export class AccountSecretMissingError extends Error {
  constructor(accountId: string) {
    super(
      `The private key of account ${accountId} is missing from secure storage (it may have been cleared). ` +
        'Import the connection file again.',
    );
    this.name = 'AccountSecretMissingError';
  }
}

export interface AccountStoreOptions {
  /** Durable state (the lead supplies one; `new Keyv()` in memory works for tests). */
  state: Keyv;
  secrets: SecretStore;
  now?: () => Date;
  /** Non-fatal problems (a stale secret that could not be deleted); never given secret values. */
  onWarning?: (message: string) => void;
}

/** The keyv namespace of the account in the role's state. */
export const ACCOUNT_NAMESPACE = 'account';
/** The key of the connected account's record (absent: no account). */
export const ACCOUNT_RECORD_KEY = 'clearance.account';
const RECORD_KEY = ACCOUNT_RECORD_KEY;
/** Secret keys written but perhaps not yet (or no longer) referenced by the record. */
const LEDGER_KEY = 'clearance.account.secretKeys';
const SECRET_PREFIX = 'clearance.account.secret.';

export class AccountStore {
  private readonly changed = new Emitter<AccountChange>();
  /** Fires after the account was replaced or removed. */
  readonly onDidChange = this.changed.event;

  private readonly state: Keyv;
  private readonly secrets: SecretStore;
  private readonly now: () => Date;
  private readonly onWarning: (message: string) => void;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: AccountStoreOptions) {
    this.state = options.state;
    this.secrets = options.secrets;
    this.now = options.now ?? (() => new Date());
    this.onWarning = options.onWarning ?? (() => undefined);
  }

  async current(): Promise<AccountInfo | undefined> {
    return (await this.readRecord())?.info;
  }

  /**
   * Validates the file, then replaces the account: (1) note the new secret's key in a
   * ledger, (2) store the secret under that new key, (3) write the public record that
   * points to it (the switch-over: one keyv write), (4) delete the old secret. Until (3)
   * the old record still points to the old secret, so the previous account stays usable.
   * Invalid input changes nothing and returns every error.
   */
  importConnectionFile(text: string, source?: string): Promise<ImportResult> {
    return this.serialize(async () => {
      const parsed = parseConnectionFile(text, source, { now: this.now() });
      if (!parsed.ok) return { ok: false, errors: parsed.errors, warnings: parsed.warnings };

      const previous = await this.readRecord();
      const secretKey = `${SECRET_PREFIX}${randomUUID()}`;
      const secret: AccountSecret = parsed.secret;

      try {
        await this.addToLedger(secretKey);
        await this.secrets.store(secretKey, JSON.stringify(secret));
        await this.writeState(RECORD_KEY, { info: parsed.account, secretKey } satisfies AccountRecord);
      } catch (error) {
        await this.secrets.delete(secretKey).catch(() => this.onWarning('Could not remove the secret of a failed import.'));
        throw new Error(`Could not save the account; the previous account is unchanged. ${describe(error)}`, { cause: error });
      }
      await this.sweepSecrets(secretKey);
      this.changed.fire({ previous: previous?.info, current: parsed.account, reason: 'imported' });
      return { ok: true, account: parsed.account, warnings: parsed.warnings };
    });
  }

  /** Forgets the account: state first (so no half account remains), then its secret. */
  disconnect(): Promise<void> {
    return this.serialize(async () => {
      const previous = await this.readRecord();
      if (!previous) return;
      if (!(await this.state.delete(RECORD_KEY)) && (await this.readRecord())) {
        throw new Error('Could not remove the account from state.');
      }
      await this.sweepSecrets(undefined);
      this.changed.fire({ previous: previous.info, current: undefined, reason: 'disconnected' });
    });
  }

  async loadPrivateKey(): Promise<KeyObject> {
    return (await this.loadCredentials()).privateKey;
  }

  async loadCredentials(): Promise<AccountCredentials> {
    const { record, secret } = await this.loadSecret();
    try {
      return { privateKey: privateKeyFromJwk(secret.privateKeyJwk), keyId: record.info.keyId, apiKey: secret.apiKey };
    } catch {
      throw damaged(record.info.accountId);
    }
  }

  /** What TokenProvider signs its assertions with (the `credentials` callback). */
  async signingCredentials(): Promise<SigningCredentials> {
    const { record, secret } = await this.loadSecret();
    return {
      ServicePrincipalId: record.info.servicePrincipalId,
      TenantId: record.info.accountId,
      ServicePrincipalKey: { ...secret.privateKeyJwk },
    };
  }

  /** Deletes secrets left by an interrupted import or disconnect (safe to call at start-up). */
  recover(): Promise<void> {
    return this.serialize(async () => this.sweepSecrets((await this.readRecord())?.secretKey));
  }

  dispose(): void {
    this.changed.dispose();
  }

  // -------------------------------------------------------------------------------------

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async loadSecret(): Promise<{ record: AccountRecord; secret: AccountSecret }> {
    const record = await this.readRecord();
    if (!record) throw new AccountNotConnectedError();
    const raw = await this.secrets.get(record.secretKey);
    if (raw === undefined) throw new AccountSecretMissingError(record.info.accountId);
    let secret: AccountSecret;
    try {
      secret = JSON.parse(raw) as AccountSecret;
    } catch {
      throw damaged(record.info.accountId);
    }
    const jwk = secret?.privateKeyJwk as Partial<AccountSecret['privateKeyJwk']> | undefined;
    if (!jwk || jwk.kty !== 'RSA' || typeof jwk.d !== 'string' || typeof jwk.n !== 'string' || typeof jwk.kid !== 'string') {
      throw damaged(record.info.accountId);
    }
    return { record, secret };
  }

  private async readRecord(): Promise<AccountRecord | undefined> {
    const value = (await this.state.get(RECORD_KEY)) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const record = value as Partial<AccountRecord>;
    return record.info && typeof record.secretKey === 'string' ? (record as AccountRecord) : undefined;
  }

  private async writeState(key: string, value: unknown): Promise<void> {
    // keyv reports most store failures by returning false rather than throwing.
    if (!(await this.state.set(key, value))) throw new Error(`state write of ${key} failed`);
  }

  private async readLedger(): Promise<string[]> {
    const value = (await this.state.get(LEDGER_KEY)) as unknown;
    return Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string') : [];
  }

  private async addToLedger(secretKey: string): Promise<void> {
    const ledger = await this.readLedger();
    const current = (await this.readRecord())?.secretKey;
    // The current secret is listed too, so that a later sweep can find it once replaced.
    const next = [...new Set([...ledger, ...(current ? [current] : []), secretKey])];
    await this.writeState(LEDGER_KEY, next);
  }

  /** Deletes every ledger secret except `keep`; what cannot be deleted stays listed. */
  private async sweepSecrets(keep: string | undefined): Promise<void> {
    const ledger = await this.readLedger();
    const remaining: string[] = [];
    for (const key of ledger) {
      if (key === keep) {
        remaining.push(key);
        continue;
      }
      try {
        await this.secrets.delete(key);
      } catch {
        remaining.push(key);
        this.onWarning('Could not delete the secret of a previous account; will retry later.');
      }
    }
    try {
      await this.writeState(LEDGER_KEY, remaining);
    } catch {
      this.onWarning('Could not update the list of stored account secrets; will retry later.');
    }
  }
}

function damaged(accountId: string): Error {
  return new Error(`The stored private key of account ${accountId} is damaged. Import the connection file again.`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
