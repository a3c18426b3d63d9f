// Control protocol v1: how consoles (VS Code windows, the CLI) talk to the
// long-lived role process over its owner-only local socket. Newline-delimited
// JSON, one long-lived connection, requests and replies matched by id, a
// version handshake, and `subscribe` (a consistent snapshot plus a sequence
// number, then every role event after it). See docs/control-protocol.md.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

/** The protocol this code speaks. 0 was the one-command-per-connection protocol before v1. */
export const PROTOCOL_VERSION = 1;

/** Longest line the role accepts from a client (requests are small). Replies and events may be longer. */
export const MAX_REQUEST_LINE_BYTES = 1024 * 1024;

/** A request id, chosen by the client; unique among the client's requests in flight. */
export type RequestId = number | string;

// ---------------------------------------------------------------------------
// Client → role

/** Must be the first message of a connection. */
export interface HelloMessage {
  type: 'hello';
  id: RequestId;
  protocol: number;
  /** Who connects: 'cli', 'vscode', or any short name (for logs). */
  client: string;
}

export interface RequestMessage {
  type: 'request';
  id: RequestId;
  command: string;
  args?: unknown;
  /** Who asks (a site user id or login name): passed to the role, which checks it like any entry point. */
  session?: string;
}

export interface SubscribeMessage {
  type: 'subscribe';
  id: RequestId;
  session?: string;
}

export interface UnsubscribeMessage {
  type: 'unsubscribe';
  id: RequestId;
}

export type ClientMessage = HelloMessage | RequestMessage | SubscribeMessage | UnsubscribeMessage;

// ---------------------------------------------------------------------------
// Role → client

/** What the role tells about itself in the welcome. */
export interface RoleInfo {
  version?: string;
  [key: string]: unknown;
}

export interface WelcomeMessage {
  type: 'welcome';
  id: RequestId;
  protocol: number;
  role: RoleInfo;
  /** The role's limits, so a client can stay inside them. */
  limits: { maxRequestLineBytes: number };
}

/** One field at fault (`field` is a path like `proxy.port` or `ServicePrincipalKey.d`). */
export interface WireIssue {
  field: string;
  message: string;
}

export interface WireError {
  /** Stable, machine-readable: one of ERROR_CODES, or another PascalCase code of the role's errors. */
  code: string;
  /** The error class on the role's side (for logs; do not branch on it: use `code`). */
  name: string;
  /** For people. */
  message: string;
  /** Every field at fault, for a form that marks them. */
  issues?: WireIssue[];
}

/** `id` is null only for a line the role could not read at all (not JSON, too large). */
export type ReplyMessage =
  | { type: 'reply'; id: RequestId | null; ok: true; result: unknown }
  | { type: 'reply'; id: RequestId | null; ok: false; error: WireError };

/** The reply result of a subscribe. */
export interface SubscribeResult<S = unknown> {
  snapshot: S;
  /** The sequence number the snapshot includes: the first event after it is seq + 1. */
  seq: number;
}

export interface EventMessage<E = unknown> {
  type: 'event';
  /** One global counter of the role process, +1 per event, the same for every client. */
  seq: number;
  event: E;
}

/** The last message before the role closes a connection. */
export interface ByeMessage {
  type: 'bye';
  code: string;
  message: string;
}

export type ServerMessage = WelcomeMessage | ReplyMessage | EventMessage | ByeMessage;

// ---------------------------------------------------------------------------
// Error codes

/**
 * Every code the protocol layer and the role's known errors use. A role error
 * with its own PascalCase `code` (e.g. a SiteError's) keeps it; the ones here
 * are documented in docs/control-protocol.md.
 */
export const ERROR_CODES = [
  // Protocol
  'BadRequest',
  'RequestTooLarge',
  'HandshakeRequired',
  'ProtocolMismatch',
  'AlreadySubscribed',
  'Unsubscribed',
  'SnapshotUnstable',
  'SlowConsumer',
  'Shutdown',
  'InternalError',
  'ControlSocketUnsafe',
  // Client side (never sent by the role)
  'RoleNotRunning',
  'RoleUnreachable',
  'ConnectionClosed',
  'Timeout',
  'SequenceGap',
  'BadMessage',
  // Role errors
  'ValidationFailed',
  'PrivilegeDenied',
  'AccountNotConnected',
  'AccountSecretMissing',
  'SiteLockHeld',
  'SelectionRefused',
  'RequestNotFound',
  'IllegalRequestTransition',
  'IllegalUploadTransition',
  'UploadUriRejected',
  'ServiceError',
  'ProxyAuthenticationRequired',
  'NetworkError',
  'ServiceTimeout',
  'TokenRefused',
  'SecretFileError',
  'UnknownCommand',
  'StateTooNew',
  // Sessions (src/core/auth/siteSessions.ts)
  'SessionRequired',
  'SessionInvalid',
  'SessionExpired',
  'SignInRefused',
  'SignInThrottled',
  'SignInLocked',
  'NoPasswordSet',
  // SiteError codes (src/core/site/model.ts), kept as they are
  'SiteFileMissing',
  'SiteFileInvalid',
  'UnknownCamera',
  'InvalidRange',
  'ExportRangeTooLong',
  'ExportFailed',
  'FfmpegMissing',
  'NoRecordings',
  'DiskFull',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

// ---------------------------------------------------------------------------
// Where the role listens

/**
 * Where the role of `stateDir` listens. Unix socket paths are short (about 100
 * bytes): a state folder too deep for one gets a private 0700 folder in
 * os.tmpdir() named by a hash of the state folder. Windows: a named pipe.
 */
export function controlPathFor(stateDir: string, platform: NodeJS.Platform = process.platform): string {
  const hash = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 16);
  if (platform === 'win32') return `\\\\.\\pipe\\clearance-role-${hash}`;
  const inState = path.join(path.resolve(stateDir), 'control.sock');
  return Buffer.byteLength(inState) < 100 ? inState : path.join(os.tmpdir(), `clearance-role-${hash}`, 'control.sock');
}

// ---------------------------------------------------------------------------
// Reading messages

const isId = (v: unknown): v is RequestId => (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= 200);
const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** The client message in `value`, or a sentence saying what is wrong with it. */
export function parseClientMessage(value: unknown): ClientMessage | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a message must be a JSON object';
  const m = value as Record<string, unknown>;
  if (!isId(m.id)) return 'a message needs an "id" (a number or a string)';
  switch (m.type) {
    case 'hello':
      if (typeof m.protocol !== 'number') return 'hello needs "protocol" (a number)';
      if (typeof m.client !== 'string') return 'hello needs "client" (a string)';
      return { type: 'hello', id: m.id, protocol: m.protocol, client: m.client.slice(0, 100) };
    case 'request':
      if (typeof m.command !== 'string' || !m.command) return 'request needs "command" (a string)';
      if (!isOptionalString(m.session)) return '"session" must be a string';
      return { type: 'request', id: m.id, command: m.command, ...(m.args !== undefined ? { args: m.args } : {}), ...(m.session !== undefined ? { session: m.session as string } : {}) };
    case 'subscribe':
      if (!isOptionalString(m.session)) return '"session" must be a string';
      return { type: 'subscribe', id: m.id, ...(m.session !== undefined ? { session: m.session as string } : {}) };
    case 'unsubscribe':
      return { type: 'unsubscribe', id: m.id };
    default:
      return `unknown message type ${JSON.stringify(m.type)} (expected hello, request, subscribe or unsubscribe)`;
  }
}

/** The plain sentence of a version mismatch. */
export function protocolMismatchMessage(role: number, client: number | string): string {
  return `This role speaks control protocol ${role}; the client speaks ${client}. Update the console or the role so that both match.`;
}
