/**
 * A tiny owner of disposables (the markdown extension's shape): `register` keeps a disposable until
 * `dispose`, which is safe to call twice and disposes anything registered after it at once.
 */
import type * as vscode from 'vscode';

export class Disposable implements vscode.Disposable {
  private disposables: vscode.Disposable[] = [];
  private disposed = false;

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  protected register<T extends vscode.Disposable>(value: T): T {
    if (this.disposed) value.dispose();
    else this.disposables.push(value);
    return value;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeAll(this.disposables);
    this.disposables = [];
  }
}

/** Disposes every item, newest first; one failing item does not keep the others alive. */
export function disposeAll(items: readonly vscode.Disposable[]): void {
  const errors: unknown[] = [];
  for (const item of [...items].reverse()) {
    try {
      item.dispose();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'several disposables failed');
}
