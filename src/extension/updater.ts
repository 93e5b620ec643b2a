/**
 * The background check for updates (the Git extension's autofetch shape): a loop, not an interval.
 * While the interval setting is on and the workspace trusted, sleep for the period (woken at once when
 * the setting changes), wait until no operation runs, check every collection quietly. Failing to reach
 * every upstream twice in a row is treated as permanent (offline, credentials): the loop pauses and says
 * so once, until the setting changes.
 */
import * as vscode from 'vscode';
import { checkFlow } from './collectionFlows.js';
import type { Config } from './config.js';
import { changed } from './config.js';
import { Disposable } from './disposable.js';
import type { Services } from './services.js';

const t = vscode.l10n.t;

export class UpdateChecker extends Disposable {
  private wake: AbortController = new AbortController();
  private paused = false;

  constructor(
    private readonly services: Services,
    private readonly config: Config,
  ) {
    super();
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!changed(e, 'checkInterval')) return;
        this.paused = false;
        this.wake.abort();
      }),
    );
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => this.wake.abort()));
    this.register({ dispose: () => this.wake.abort() });
    void this.loop();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.isDisposed) {
      this.wake = new AbortController();
      const minutes = this.config.get('checkInterval');
      const enabled = minutes > 0 && !this.paused && vscode.workspace.isTrusted;
      await waitOrWake(enabled ? minutes * 60_000 : undefined, this.wake.signal);
      if (this.isDisposed || this.wake.signal.aborted || !enabled) continue;
      const { store, log } = this.services;
      for (const collection of store.collections) await store.whenIdle(collection);
      try {
        const results = await checkFlow(
          this.services,
          store.collections.filter((c) => c.report),
          true,
        );
        const reachable = results.filter((r) => !r.error).length;
        failures = results.length > 0 && reachable === 0 ? failures + 1 : 0;
      } catch (err) {
        log.warn(`[Updater] background check failed: ${String(err)}`);
        failures++;
      }
      if (failures >= 2) {
        this.paused = true;
        failures = 0;
        log.warn('[Updater] no upstream could be reached twice in a row; background checks paused');
        void this.services.prompter.notify({
          id: 'check-paused',
          severity: 'warning',
          message: t(
            'Background checks for artifact updates are paused: no upstream could be reached. Change the check interval setting to resume.',
          ),
          actions: [],
        });
      }
    }
  }
}

/** Sleeps `ms` (forever when undefined) or until `signal` aborts. */
function waitOrWake(ms: number | undefined, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      resolve();
    }
  });
}
