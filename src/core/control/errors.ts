// Errors keep their shape across the socket: a stable code, the class name,
// the message, and for a validation error every field at fault. Duck typing
// rather than imports, so the protocol layer does not pull in the engine.
import type { WireError, WireIssue } from './protocol';

/** Error class names of the engine → their stable code. */
const CODE_BY_NAME: Readonly<Record<string, string>> = {
  ValidationError: 'ValidationFailed',
  ZodError: 'ValidationFailed',
  UploadInputError: 'ValidationFailed',
  OperatorExportError: 'ValidationFailed',
  PrivilegeDenied: 'PrivilegeDenied',
  AccountNotConnectedError: 'AccountNotConnected',
  AccountSecretMissingError: 'AccountSecretMissing',
  SiteLockHeld: 'SiteLockHeld',
  SelectionRefused: 'SelectionRefused',
  RequestNotFound: 'RequestNotFound',
  IllegalRequestTransition: 'IllegalRequestTransition',
  IllegalUploadTransition: 'IllegalUploadTransition',
  UploadUriRejected: 'UploadUriRejected',
  ServiceError: 'ServiceError',
  ProxyAuthenticationError: 'ProxyAuthenticationRequired',
  NetworkError: 'NetworkError',
  TimeoutError: 'ServiceTimeout',
  TokenRequestError: 'TokenRefused',
  SecretFileError: 'SecretFileError',
};

/** A code of our own style: PascalCase (`UnknownCamera`), not an errno (`ENOENT`, `ERR_X`). */
const STABLE_CODE = /^[A-Z][a-z][A-Za-z0-9]{0,62}$/;

const MAX_MESSAGE_CHARS = 8000;
const MAX_ISSUES = 200;

/** An error the role answered, as the client sees it: `code` to branch on, `issues` to mark fields. */
export class ControlError extends Error {
  readonly code: string;
  readonly issues: readonly WireIssue[];

  constructor(code: string, message: string, options?: { name?: string; issues?: readonly WireIssue[]; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.issues = options?.issues ?? [];
    // The class name on the role's side, as the one-command protocol gave it (e.g. 'PrivilegeDenied').
    this.name = options?.name ?? 'ControlError';
  }

  /** The wire form of this error (for a client that relays it). */
  toWire(): WireError {
    return { code: this.code, name: this.name, message: this.message, ...(this.issues.length ? { issues: [...this.issues] } : {}) };
  }
}

export function isControlError(error: unknown, code?: string): error is ControlError {
  return error instanceof ControlError && (code === undefined || error.code === code);
}

/** The wire form of anything thrown by a backend. */
export function toWireError(error: unknown): WireError {
  if (error instanceof ControlError) return error.toWire();
  if (!(error instanceof Error)) {
    return { code: 'InternalError', name: 'Error', message: clip(typeof error === 'string' ? error : 'The role failed with a value that is not an error.') };
  }
  const e = error as Error & { code?: unknown; issues?: unknown; errors?: unknown; field?: unknown };
  const name = typeof e.name === 'string' && e.name ? e.name : 'Error';
  const issues = issuesOf(e);
  const code = CODE_BY_NAME[name] ?? (typeof e.code === 'string' && STABLE_CODE.test(e.code) ? e.code : issues.length && name.endsWith('ValidationError') ? 'ValidationFailed' : 'InternalError');
  return { code, name, message: clip(e.message || name), ...(issues.length ? { issues } : {}) };
}

/** The error a client throws for a WireError. */
export function fromWireError(wire: WireError): ControlError {
  const code = typeof wire?.code === 'string' && wire.code ? wire.code : 'InternalError';
  const issues = Array.isArray(wire?.issues) ? wire.issues.filter(isIssue).map((i) => ({ field: i.field, message: i.message })) : [];
  return new ControlError(code, typeof wire?.message === 'string' ? wire.message : code, { name: typeof wire?.name === 'string' && wire.name ? wire.name : 'ControlError', issues });
}

function issuesOf(e: { issues?: unknown; errors?: unknown; field?: unknown; message: string }): WireIssue[] {
  // ValidationError keeps them in `errors`, SiteFileError in `issues`, zod in `issues` with a `path`.
  for (const list of [e.issues, e.errors]) {
    if (!Array.isArray(list)) continue;
    const issues: WireIssue[] = [];
    for (const item of list.slice(0, MAX_ISSUES)) {
      if (isIssue(item)) issues.push({ field: item.field, message: clip(item.message) });
      else if (isZodIssue(item)) issues.push({ field: item.path.map(String).join('.'), message: clip(item.message) });
    }
    if (issues.length) return issues;
  }
  // UploadInputError and OperatorExportError: one field, the message prefixed with it.
  if (typeof e.field === 'string' && e.field) {
    const prefix = `${e.field}: `;
    return [{ field: e.field, message: clip(e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message) }];
  }
  return [];
}

function isIssue(v: unknown): v is WireIssue {
  return typeof v === 'object' && v !== null && typeof (v as WireIssue).field === 'string' && typeof (v as WireIssue).message === 'string';
}

function isZodIssue(v: unknown): v is { path: (string | number)[]; message: string } {
  return typeof v === 'object' && v !== null && Array.isArray((v as { path?: unknown }).path) && typeof (v as { message?: unknown }).message === 'string';
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}
