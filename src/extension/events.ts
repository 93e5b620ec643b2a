/**
 * Event combinators (the Git extension's `util.ts` idea): they keep listeners one-liners and let tests
 * wait on events instead of sleeping.
 */
import type * as vscode from 'vscode';

export function filterEvent<T>(event: vscode.Event<T>, predicate: (value: T) => boolean): vscode.Event<T> {
  return (listener, thisArgs, disposables) =>
    event((value) => predicate(value) && listener.call(thisArgs, value), null, disposables);
}

/** Resolves with the next value for which `predicate` holds. */
export function eventToPromise<T>(
  event: vscode.Event<T>,
  predicate: (value: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const subscription = event((value) => {
      if (!predicate(value)) return;
      subscription.dispose();
      resolve(value);
    });
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** `promise`, or `onAbort()` as soon as `signal` aborts (the promise keeps running but is ignored). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => resolve(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
