/**
 * Progress derived from the store's operation events (the Git extension's ProgressManager): a
 * user-started operation gets a cancellable notification, every operation gets the view's progress bar.
 * Cancel aborts the operation's signal; the operation itself never calls a progress API.
 */
import * as vscode from 'vscode';
import { Disposable } from './disposable.js';
import type { CollectionModel, Operation, OperationEvent, Store } from './store.js';
import { VIEW_ID } from './tree.js';

interface Running {
  report: (message: string) => void;
  end: () => void;
}

export class ProgressManager extends Disposable {
  private readonly running = new Map<CollectionModel, Running[]>();

  constructor(private readonly store: Store) {
    super();
    this.register(store.onDidChangeOperation((e) => this.onOperation(e)));
  }

  private onOperation(e: OperationEvent): void {
    switch (e.phase) {
      case 'start':
        this.running.set(e.collection, this.start(e.collection, e.operation));
        break;
      case 'step':
        for (const progress of this.running.get(e.collection) ?? []) progress.report(e.collection.step ?? '');
        break;
      case 'end':
        for (const progress of this.running.get(e.collection) ?? []) progress.end();
        this.running.delete(e.collection);
        break;
    }
  }

  private start(collection: CollectionModel, operation: Operation): Running[] {
    const view = this.show({ location: { viewId: VIEW_ID } }, undefined);
    if (operation.progress !== 'notification') return [view];
    const notification = this.show(
      { location: vscode.ProgressLocation.Notification, title: operation.title, cancellable: true },
      () => this.store.cancel(collection),
    );
    return [view, notification];
  }

  private show(options: vscode.ProgressOptions, onCancel: (() => void) | undefined): Running {
    let end!: () => void;
    let reporter: vscode.Progress<{ message?: string }> | undefined;
    let pending: string | undefined;
    const done = new Promise<void>((resolve) => (end = resolve));
    void vscode.window.withProgress(options, (progress, token) => {
      reporter = progress;
      if (pending !== undefined) progress.report({ message: pending });
      if (onCancel) token.onCancellationRequested(onCancel);
      return done;
    });
    return {
      report: (message) => {
        pending = message;
        reporter?.report({ message });
      },
      end,
    };
  }
}
