// A small typed event emitter for the engine. The engine never imports vscode,
// so the UI adapts these events to vscode.EventEmitter where it needs to.

export interface Disposable {
  dispose(): void;
}

export type Listener<T> = (event: T) => void;

/** Where a listener's exception goes; the runner and the console log it. */
export type ListenerErrorReporter = (error: unknown) => void;

let defaultReporter: ListenerErrorReporter = (error) => {
  process.emitWarning(`An event listener failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, 'ListenerError');
};

/** Sets where listener exceptions of emitters without a reporter of their own go. */
export function reportListenerErrors(reporter: ListenerErrorReporter): Disposable {
  const previous = defaultReporter;
  defaultReporter = reporter;
  return { dispose: () => (defaultReporter = previous) };
}

export class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();

  constructor(private readonly onListenerError?: ListenerErrorReporter) {}

  /** Subscribe; the returned handle unsubscribes. */
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(event: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        // A faulty listener must not stop the engine or the other listeners, nor go unseen.
        (this.onListenerError ?? defaultReporter)(error);
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
