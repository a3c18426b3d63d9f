// A tiny typed event emitter for core state (no vscode, no node:events), so the UI
// adapter can bridge it to vscode.EventEmitter and the headless runner to logs.

export interface Disposable {
  dispose(): void;
}

export type Listener<T> = (event: T) => void;

export class TypedEvent<T> {
  private readonly listeners = new Set<Listener<T>>();

  /** Subscribe; the returned handle unsubscribes. Mirrors vscode.Event's calling shape. */
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  /** Calls every listener; a throwing listener must not stop the others or the emitter. */
  fire(event: T, onListenerError?: (error: unknown) => void): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        onListenerError?.(error);
      }
    }
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  dispose(): void {
    this.listeners.clear();
  }
}
