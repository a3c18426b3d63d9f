// A small typed event emitter for the engine. The engine never imports vscode,
// so the UI adapts these events to vscode.EventEmitter where it needs to.

export interface Disposable {
  dispose(): void;
}

export type Listener<T> = (event: T) => void;

export class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();

  /** Subscribe; the returned handle unsubscribes. */
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(event: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A faulty listener must not stop the engine or the other listeners.
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
