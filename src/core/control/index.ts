// Control protocol v1: the role's local socket, shared by the role (server) and its consoles (clients).
export {
  ERROR_CODES,
  MAX_REQUEST_LINE_BYTES,
  PROTOCOL_VERSION,
  controlPathFor,
  parseClientMessage,
  protocolMismatchMessage,
  type ByeMessage,
  type ClientMessage,
  type ErrorCode,
  type EventMessage,
  type HelloMessage,
  type ReplyMessage,
  type RequestId,
  type RequestMessage,
  type RoleInfo,
  type ServerMessage,
  type SubscribeMessage,
  type SubscribeResult,
  type UnsubscribeMessage,
  type WelcomeMessage,
  type WireError,
  type WireIssue,
} from './protocol';
export { ControlError, fromWireError, isControlError, toWireError } from './errors';
export { Coalescer, realTimers, roleEventCoalescing, type CoalesceKey, type Timers } from './coalescing';
export { LineReader } from './framing';
export {
  DEFAULT_CONTROL_LIMITS,
  serveControl,
  type ClientInfo,
  type ControlBackend,
  type ControlServer,
  type ControlServerOptions,
  type ControlServerStats,
} from './server';
export { ControlClient, type CloseInfo, type ConnectOptions, type RequestOptions } from './client';
