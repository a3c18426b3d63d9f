// The webview side of the panel protocol: one `request` per host call, replies
// matched by id, `update`s handed to a listener, and the panel's own state
// (what the operator typed) kept by VS Code across hide, show and restart.
import type { FieldIssue, PanelError, ToHost, ToWebview } from './protocol';

interface VsCodeApi<S> {
  postMessage(message: ToHost): void;
  getState(): S | undefined;
  setState(state: S): void;
}

declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

/** A refused request, with the fields at fault. */
export class HostError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly issues: FieldIssue[],
  ) {
    super(message);
  }
}

export class PanelHost<S extends object> {
  private readonly api = acquireVsCodeApi<S>();
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Map<string, ((data: unknown) => void)[]>();

  constructor() {
    window.addEventListener('message', (event: MessageEvent<ToWebview>) => this.receive(event.data));
  }

  /** Says the webview listens; the host posts nothing before. */
  ready(): void {
    this.api.postMessage({ type: 'ready' });
  }

  request<T>(command: string, args?: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.api.postMessage({ type: 'request', id, command, ...(args === undefined ? {} : { args }) });
    });
  }

  onUpdate(topic: string, listener: (data: unknown) => void): void {
    this.listeners.set(topic, [...(this.listeners.get(topic) ?? []), listener]);
  }

  get state(): S | undefined {
    return this.api.getState();
  }

  set state(value: S) {
    this.api.setState(value);
  }

  private receive(message: ToWebview): void {
    if (!message || typeof message !== 'object') return;
    if (message.type === 'reply') {
      const w = this.waiting.get(message.id);
      if (!w) return;
      this.waiting.delete(message.id);
      if (message.ok) w.resolve(message.result);
      else w.reject(toHostError(message.error));
    } else if (message.type === 'update') {
      for (const l of this.listeners.get(message.topic) ?? []) l(message.data);
    }
  }
}

function toHostError(error: PanelError): HostError {
  return new HostError(error.message, error.code, Array.isArray(error.issues) ? error.issues : []);
}

/** An element with text only: every string from the role or the service goes in through here (never innerHTML). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElementTagNameMap[K];
export function el(tag: string, attrs?: Record<string, string>, ...children: (Node | string)[]): HTMLElement;
export function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}
