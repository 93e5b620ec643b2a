/**
 * The one stateful model: every collection shown (workspace folders, nested ones, the extraCollections
 * setting), each with its consistency report, a foreign holder of its writer lock, the operation running
 * on it and the updates found by the last check. Views derive from its events and hold no truth of their
 * own. `run` is the only gateway for operations; file-system events keep the reports fresh incrementally
 * (the core's stat cache re-hashes only what changed), debounced, never by polling. The checks run off the
 * extension host's event loop (the core's `CollectionChecker`, a worker thread), so a large collection
 * never freezes the window; the newest check of a collection wins.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  FaultPlan,
  holdsCollection,
  loadCheckResults,
  nodeFs,
  parseFaultSpec,
  readWriterLock,
  systemClock,
  withFaults,
} from '../core/index.js';
import type {
  CheckResult,
  Clock,
  CollectionChecker,
  CollectionCheckOutcome,
  ConsistencyReport,
  DriftCheckOutcome,
  DriftCheckRequest,
  LockHolder,
  OperationOptions,
  RemainingConflicts,
} from '../core/index.js';
import type { Config } from './config.js';
import { Disposable } from './disposable.js';
import { ExtensionError } from './extensionError.js';

export const TOOL = 'artifact-keeper-vscode';
const MANIFEST = 'collection.toml';
const STATE_DIR = '.artifact-keeper';
/** Artifact folders watched before the first report names the real ones. */
const DEFAULT_TOP_FOLDERS = ['skills', 'commands', 'agents', 'hooks', 'mcp', 'workflows', 'composite'];
const REFRESH_DEBOUNCE_MS = 300;
const LOCK_DEBOUNCE_MS = 50;

export type Activity =
  | { kind: 'idle' }
  | { kind: 'checking' }
  | { kind: 'updating'; artifacts: string[] }
  /** Re-locking or backing out artifacts an update left conflicted. */
  | { kind: 'resolving'; artifacts: string[] }
  /** Accepting an artifact's local edits as its locked content. */
  | { kind: 'relocking'; artifacts: string[] }
  /** Putting artifacts back to their locked content (discard, reinstall) or removing them. */
  | { kind: 'fixing'; artifacts: string[] }
  | { kind: 'restoring'; snapshotId: string }
  | { kind: 'recovering' }
  | { kind: 'snapshotting' }
  | { kind: 'adding'; source: string };

export type BusyActivity = Exclude<Activity, { kind: 'idle' }>;

export interface Operation {
  activity: BusyActivity;
  /** Writes to the collection: refused in untrusted workspaces, followed by a full re-check. */
  mutates: boolean;
  /** `notification`: user-started, a cancellable notification plus the view's progress; `background`: view and status bar only. */
  progress: 'notification' | 'background';
  /** Shown as the progress title, e.g. "Updating pdf". */
  title: string;
}

export interface CollectionModel {
  readonly dir: string;
  readonly uri: vscode.Uri;
  readonly name: string;
  readonly origin: 'workspace' | 'setting';
  /** Undefined until the first check has run, or when the last one failed (see `error`). */
  readonly report: ConsistencyReport | undefined;
  /** Why the collection could not be read (a CoreError, usually). */
  readonly error: unknown;
  /** Another process (the CLI, another window) holding the writer lock. */
  readonly foreignLock: LockHolder | undefined;
  readonly activity: Activity;
  readonly operation: Operation | undefined;
  /** The operation's current step, e.g. "Fetching upstream…". */
  readonly step: string | undefined;
  /** The last check's result per artifact id. */
  readonly updates: ReadonlyMap<string, CheckResult>;
  readonly conflicted: ReadonlySet<string>;
  /** What keeps each conflicted artifact (report state `conflicted`) conflicted: marker files, upstream copies. */
  readonly conflicts: ReadonlyMap<string, RemainingConflicts>;
  readonly checked: boolean;
}

export interface CollectionChange {
  collection: CollectionModel;
  /** Ids of the artifacts whose row changed; undefined when the whole collection should be redrawn. */
  artifacts?: string[];
}

export interface OperationEvent {
  collection: CollectionModel;
  operation: Operation;
  phase: 'start' | 'step' | 'end';
  error?: unknown;
}

export interface RunContext {
  signal: AbortSignal;
  /** The IO ports and identity for the core, with the test fault plan if one is installed. */
  options: OperationOptions;
  report(step: string): void;
  setConflicted(artifactIds: readonly string[]): void;
  setCheckResults(results: readonly CheckResult[]): void;
}

class CollectionEntry implements CollectionModel {
  report: ConsistencyReport | undefined;
  error: unknown;
  foreignLock: LockHolder | undefined;
  activity: Activity = { kind: 'idle' };
  operation: Operation | undefined;
  step: string | undefined;
  updates = new Map<string, CheckResult>();
  /** The artifacts the last check found behind upstream: what `updates` derives availability from. */
  found = new Set<string>();
  conflicted = new Set<string>();
  conflicts = new Map<string, RemainingConflicts>();
  checked = false;
  /** `check.json` read: the updates a check found before this window opened. */
  checkResultsLoaded = false;
  /** The newest refresh: resolves once its check is shown. */
  refreshed: Promise<void> = Promise.resolve();
  /** Counts refreshes, so an older one's outcome is never shown over a newer one's. */
  generation = 0;
  controller: AbortController | undefined;
  watcher: vscode.FileSystemWatcher | undefined;
  extraWatcher: vscode.FileSystemWatcher | undefined;
  watchedGlob = '';
  refreshTimer: NodeJS.Timeout | undefined;
  lockTimer: NodeJS.Timeout | undefined;
  pendingRefresh = false;
  /** A discovery found the collection gone while an operation ran on it: the operation's end looks again. */
  rediscover = false;
  readonly uri: vscode.Uri;
  /** The manifest's collection name once read; the folder's name until then. */
  name: string;

  constructor(
    readonly dir: string,
    readonly origin: 'workspace' | 'setting',
  ) {
    this.uri = vscode.Uri.file(dir);
    this.name = path.basename(dir) || dir;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    clearTimeout(this.lockTimer);
    this.watcher?.dispose();
    this.extraWatcher?.dispose();
    this.controller?.abort();
  }
}

export class Store extends Disposable {
  private readonly entries = new Map<string, CollectionEntry>();
  private faults: FaultPlan | undefined;
  private discovered = false;
  private discovery: Promise<void> | undefined;
  private readonly contextKeys = new Map<string, unknown>();

  private readonly _onDidChangeCollections = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeCollections = this._onDidChangeCollections.event;
  private readonly _onDidChangeCollection = this.register(new vscode.EventEmitter<CollectionChange>());
  readonly onDidChangeCollection = this._onDidChangeCollection.event;
  private readonly _onDidChangeOperation = this.register(new vscode.EventEmitter<OperationEvent>());
  readonly onDidChangeOperation = this._onDidChangeOperation.event;

  constructor(
    private readonly config: Config,
    private readonly log: vscode.LogOutputChannel,
    /** Runs the consistency checks off the event loop (the composition root builds it and owns it). */
    private readonly checker: CollectionChecker,
    /** What every operation records its times with (the composition root builds it). */
    private readonly clock: Clock = systemClock,
  ) {
    super();
    this.register(vscode.workspace.onDidChangeWorkspaceFolders(() => void this.discover()));
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('artifactKeeper.extraCollections')) void this.discover();
      }),
    );
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => void this.refreshAll()));
    // A collection.toml appearing or vanishing in the workspace (init, clone, delete) changes the list.
    const manifests = this.register(
      vscode.workspace.createFileSystemWatcher(`**/${MANIFEST}`, false, true, false),
    );
    this.register(manifests.onDidCreate(() => void this.discover()));
    this.register(manifests.onDidDelete(() => void this.discover()));
    this.register({ dispose: () => this.entries.forEach((entry) => entry.dispose()) });
    const faultSpec = process.env.ARTIFACT_KEEPER_FAULT;
    if (faultSpec) this.setFaultSpec(faultSpec);
  }

  get collections(): readonly CollectionModel[] {
    return [...this.entries.values()];
  }

  get isDiscovered(): boolean {
    return this.discovered;
  }

  /** Where the consistency checks run: a worker thread, or the extension host when it could not start. */
  get checkMode(): 'worker' | 'in-process' {
    return this.checker.mode;
  }

  /**
   * A project's drift against its collection, read where the consistency checks run (off the extension
   * host's loop); `superseded` when a newer drift check of the same profile root was asked for.
   */
  checkDrift(request: DriftCheckRequest): Promise<DriftCheckOutcome> {
    return this.checker.drift(request);
  }

  get isBusy(): boolean {
    return [...this.entries.values()].some((entry) => entry.activity.kind !== 'idle');
  }

  find(dir: string): CollectionModel | undefined {
    return this.entries.get(path.resolve(dir));
  }

  /** The collection that holds `uri` (the innermost one when collections nest). */
  collectionOf(uri: vscode.Uri): CollectionModel | undefined {
    let best: CollectionEntry | undefined;
    for (const entry of this.entries.values()) {
      if (!isInside(entry.dir, uri.fsPath)) continue;
      if (!best || entry.dir.length > best.dir.length) best = entry;
    }
    return best;
  }

  /**
   * Installs a fault plan (`op:nth:ERRNO[:path]`, the CLI's ARTIFACT_KEEPER_FAULT syntax) for the IO of
   * later operations: for tests only, through the API or that environment variable, never a setting.
   * One plan serves all operations, so each rule fires once (a Retry or Roll Back then succeeds).
   */
  setFaultSpec(spec: string | undefined): void {
    this.faults = spec ? new FaultPlan(parseFaultSpec(spec)) : undefined;
    this.log.warn(`[Store] fault injection ${spec ? `on: ${spec}` : 'off'}`);
  }

  /** The ports for reading operations (listing snapshots, reading their files): never faulty, never locking. */
  readOptions(): Pick<OperationOptions, 'fs' | 'logger'> {
    return { fs: nodeFs, logger: this.log };
  }

  /** The options of a mutating operation; `scope` (the collection's folder) picks its retention settings. */
  operationOptions(signal?: AbortSignal, scope?: vscode.Uri): OperationOptions {
    const fsPort = this.faults ? withFaults(nodeFs, this.faults) : nodeFs;
    return {
      fs: fsPort,
      logger: this.log,
      tool: TOOL,
      clock: this.clock,
      retention: this.config.retention(scope),
      // The extension host lives on: a snapshot's stats are worth a second thread here (not in the CLI).
      parallelStat: true,
      ...(signal ? { signal } : {}),
      ...(this.faults ? { faults: this.faults } : {}),
    };
  }

  /**
   * Finds the collections to show: each workspace folder holding a collection.toml, collections nested
   * below them, and the folders of the extraCollections setting. Each new one gets its first check on a
   * later tick, so activation never waits for hashing.
   */
  discover(): Promise<void> {
    const run = (this.discovery ?? Promise.resolve()).then(() => this.discoverNow());
    this.discovery = run.catch(() => undefined);
    return run;
  }

  private async discoverNow(): Promise<void> {
    const started = performance.now();
    const found = new Map<string, 'workspace' | 'setting'>();
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      if (folder.uri.scheme === 'file' && holdsCollection(folder.uri.fsPath))
        found.set(path.resolve(folder.uri.fsPath), 'workspace');
    }
    try {
      const nested = await vscode.workspace.findFiles(
        `**/${MANIFEST}`,
        '{**/node_modules/**,**/.git/**,**/.artifact-keeper/**}',
        200,
      );
      for (const uri of nested) if (uri.scheme === 'file') found.set(path.dirname(uri.fsPath), 'workspace');
    } catch (err) {
      this.log.warn(`[Store] searching the workspace for collections failed: ${String(err)}`);
    }
    for (const dir of this.config.extraCollectionDirs()) if (!found.has(dir)) found.set(dir, 'setting');

    let changed = false;
    for (const [dir, entry] of this.entries) {
      if (found.has(dir)) continue;
      // A transaction moves collection.toml aside for a moment (the watcher reports it deleted, and the
      // search misses it): a workspace collection stays while its journal is there. One an operation of
      // this window runs on stays until the operation ends, which looks again: dropped mid-operation, the
      // entry that showed the operation's start never showed its end.
      if (entry.origin === 'workspace' && inWorkspace(dir) && holdsCollection(dir)) continue;
      if (entry.activity.kind !== 'idle') {
        entry.rediscover = true;
        continue;
      }
      entry.dispose();
      this.entries.delete(dir);
      this.checker.forget(dir);
      changed = true;
    }
    const added: CollectionEntry[] = [];
    for (const [dir, origin] of found) {
      if (this.entries.has(dir)) continue;
      const entry = new CollectionEntry(dir, origin);
      this.entries.set(dir, entry);
      this.watch(entry, DEFAULT_TOP_FOLDERS);
      added.push(entry);
      changed = true;
    }
    this.discovered = true;
    this.log.debug(
      `[Store] discovery: ${this.entries.size} collection(s) in ${(performance.now() - started).toFixed(1)} ms`,
    );
    this.updateContextKeys();
    if (changed) this._onDidChangeCollections.fire();
    // The first consistency checks, in the background.
    for (const entry of added) void this.refreshNow(entry);
  }

  /** Re-checks every collection now (the Refresh command); resolves once the reports are shown. */
  refreshAll(): Promise<void> {
    return Promise.all([...this.entries.values()].map((entry) => this.refreshNow(entry))).then(
      () => undefined,
    );
  }

  refresh(collection: CollectionModel): Promise<void> {
    const entry = this.entryOf(collection);
    return this.refreshNow(entry);
  }

  /** Resolves when the collection has had its first check (at once if it has). */
  whenChecked(collection: CollectionModel): Promise<void> {
    const entry = this.entryOf(collection);
    if (entry.checked) return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = this.onDidChangeCollection((change) => {
        if (change.collection !== entry || !entry.checked) return;
        subscription.dispose();
        resolve();
      });
    });
  }

  /**
   * Runs one operation on a collection: refuses a second one (busy), and writes or upstream access in an untrusted workspace;
   * marks the start, runs `work` with an AbortSignal, re-checks the collection after a mutation, and marks
   * the end with the error, if any. Nothing else changes a collection's operation state.
   */
  async run<T>(
    collection: CollectionModel,
    operation: Operation,
    work: (ctx: RunContext) => Promise<T>,
  ): Promise<T> {
    const entry = this.entryOf(collection);
    // Checks run git on the upstreams the manifest names: as untrusted as a write.
    const needsTrust = operation.mutates || operation.activity.kind === 'checking';
    if (needsTrust && !vscode.workspace.isTrusted) throw new ExtensionError({ code: 'untrusted' });
    if (entry.activity.kind !== 'idle') {
      throw new ExtensionError({
        code: 'busy',
        collection: entry.name,
        activity: entry.operation?.title ?? entry.activity.kind,
      });
    }
    const controller = new AbortController();
    entry.activity = operation.activity;
    entry.operation = operation;
    entry.step = undefined;
    entry.controller = controller;
    const started = performance.now();
    this.log.trace(`[Store][run] ${operation.activity.kind} started on ${entry.name}`);
    this.updateContextKeys();
    this._onDidChangeOperation.fire({ collection: entry, operation, phase: 'start' });
    this._onDidChangeCollection.fire({ collection: entry, artifacts: [] });
    let error: unknown;
    const ctx: RunContext = {
      signal: controller.signal,
      options: this.operationOptions(controller.signal, entry.uri),
      report: (step) => {
        entry.step = step;
        this.log.debug(`[Store][run] ${operation.activity.kind} on ${entry.name}: ${step}`);
        this._onDidChangeOperation.fire({ collection: entry, operation, phase: 'step' });
        this._onDidChangeCollection.fire({ collection: entry, artifacts: [] });
      },
      setConflicted: (ids) => {
        entry.conflicted = new Set(ids);
        this.updateContextKeys();
        // Conflicts are resolved before anything is written, so the collection can be read meanwhile.
        void this.refreshNow(entry, true);
      },
      setCheckResults: (results) => {
        entry.updates = new Map(results.map((result) => [result.id, result]));
        entry.found = new Set(results.filter((r) => r.available).map((r) => r.id));
        void this.refreshNow(entry);
      },
    };
    try {
      return await work(ctx);
    } catch (err) {
      error = err;
      throw err;
    } finally {
      entry.activity = { kind: 'idle' };
      entry.operation = undefined;
      entry.step = undefined;
      entry.controller = undefined;
      if (entry.conflicted.size > 0) entry.conflicted = new Set();
      // Discovery kept this collection because the operation ran: now it may go.
      if (entry.rediscover) {
        entry.rediscover = false;
        void this.discover();
      }
      // The operation ends (and `run` returns) with its result shown: what a flow or a test reads next.
      // Idle meanwhile, as when the check was synchronous: the next operation is not refused as busy.
      await (operation.mutates || entry.pendingRefresh ? this.refreshNow(entry) : entry.refreshed);
      const ms = (performance.now() - started).toFixed(0);
      this.log.trace(
        `[Store][run] ${operation.activity.kind} on ${entry.name} ended after ${ms} ms${error ? ` (${String(error)})` : ''}`,
      );
      this.updateContextKeys();
      this._onDidChangeOperation.fire({
        collection: entry,
        operation,
        phase: 'end',
        ...(error !== undefined ? { error } : {}),
      });
      this._onDidChangeCollection.fire({ collection: entry });
    }
  }

  /** Cancels the running operation of a collection (the progress notification's Cancel). */
  cancel(collection: CollectionModel): void {
    this.entryOf(collection).controller?.abort();
  }

  /** Resolves when no operation runs on the collection. */
  whenIdle(collection: CollectionModel): Promise<void> {
    const entry = this.entryOf(collection);
    if (entry.activity.kind === 'idle') return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = this.onDidChangeOperation((e) => {
        if (e.collection !== entry || e.phase !== 'end') return;
        subscription.dispose();
        resolve();
      });
    });
  }

  private entryOf(collection: CollectionModel): CollectionEntry {
    const entry = this.entries.get(collection.dir);
    if (!entry) throw new ExtensionError({ code: 'no-collection' });
    return entry;
  }

  /**
   * The read path: checks the collection (incrementally, off the event loop) and reads the writer lock.
   * Never writes when untrusted. Resolves once the newest check of the collection is shown; never rejects.
   */
  private refreshNow(entry: CollectionEntry, duringOperation = false): Promise<void> {
    if (!this.entries.has(entry.dir)) return Promise.resolve();
    clearTimeout(entry.refreshTimer);
    entry.refreshTimer = undefined;
    if (entry.operation?.mutates && !duringOperation) {
      // Files are changing under the operation; its end re-checks.
      entry.pendingRefresh = true;
      return Promise.resolve();
    }
    entry.pendingRefresh = false;
    if (!entry.checkResultsLoaded) {
      entry.checkResultsLoaded = true;
      if (entry.updates.size === 0) {
        const results = loadCheckResults(entry.dir);
        entry.updates = new Map(results.map((r) => [r.id, r]));
        entry.found = new Set(results.filter((r) => r.available).map((r) => r.id));
      }
    }
    const generation = ++entry.generation;
    const refreshed = this.checkAndShow(entry, generation).catch((err: unknown) => {
      this.log.error(`[Store] showing the check of ${entry.dir} failed: ${String(err)}`);
    });
    entry.refreshed = refreshed;
    return refreshed;
  }

  private async checkAndShow(entry: CollectionEntry, generation: number): Promise<void> {
    const started = performance.now();
    const outcome = await this.checker.check({
      dir: entry.dir,
      updates: [...entry.updates.values()],
      found: [...entry.found],
      conflicted: [...entry.conflicted],
      persist: vscode.workspace.isTrusted,
    });
    if (generation !== entry.generation) return entry.refreshed; // a newer check replaced this one
    if (outcome.kind === 'superseded' || !this.entries.has(entry.dir)) return;
    const previous = entry.report;
    this.show(entry, outcome);
    entry.foreignLock = this.readForeignLock(entry);
    const firstCheck = !entry.checked;
    entry.checked = true;
    const ms = performance.now() - started;
    const report = entry.report;
    if (report) {
      (firstCheck ? this.log.info : this.log.debug).call(
        this.log,
        `[Store] ${firstCheck ? 'first check of' : 'checked'} ${entry.name}: ${report.state}, ${report.artifacts.length} artifacts, ${report.rehashed} re-hashed in ${ms.toFixed(1)} ms (${this.checker.mode})`,
      );
      this.watch(entry, topFolders(report));
    }
    this.updateContextKeys();
    this._onDidChangeCollection.fire({
      collection: entry,
      ...(firstCheck ? {} : changedArtifacts(previous, report)),
    });
  }

  private show(
    entry: CollectionEntry,
    outcome: Exclude<CollectionCheckOutcome, { kind: 'superseded' }>,
  ): void {
    switch (outcome.kind) {
      case 'interrupted':
        // Mid-transaction the collection is shown interrupted (with Recover), not unreadable, as
        // `artifact-keeper status` reports it.
        entry.report = outcome.report;
        entry.conflicts = new Map();
        entry.error = undefined;
        this.log.warn(`[Store] ${entry.dir} cannot be read: ${outcome.cause}`);
        return;
      case 'checked':
        entry.name = outcome.name || path.basename(entry.dir);
        entry.updates = new Map(outcome.updates.map((result) => [result.id, result]));
        entry.report = outcome.report;
        entry.conflicts = new Map<string, RemainingConflicts>(outcome.conflicts);
        entry.error = undefined;
        return;
      case 'failed': {
        const err = outcome.error;
        entry.report = undefined;
        entry.error = err;
        this.log.warn(
          `[Store] ${entry.dir} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
        );
        return;
      }
      default: {
        const never: never = outcome;
        return never;
      }
    }
  }

  private refreshLock(entry: CollectionEntry): void {
    const before = entry.foreignLock;
    entry.foreignLock = this.readForeignLock(entry);
    if (before?.pid !== entry.foreignLock?.pid || before?.started !== entry.foreignLock?.started) {
      this.log.debug(
        `[Store] ${entry.name}: writer lock ${entry.foreignLock ? `held by pid ${entry.foreignLock.pid} (${entry.foreignLock.tool})` : 'free'}`,
      );
      this._onDidChangeCollection.fire({ collection: entry, artifacts: [] });
    }
  }

  private readForeignLock(entry: CollectionEntry): LockHolder | undefined {
    try {
      const status = readWriterLock(entry.dir);
      if (!status || !status.alive) return undefined;
      const ours = status.holder.pid === process.pid && status.holder.host === os.hostname();
      return ours ? undefined : status.holder;
    } catch {
      return undefined;
    }
  }

  /**
   * Watchers on exactly what the report depends on: the manifest and lock, the artifact folders, and the
   * journal and writer lock in `.artifact-keeper/` (not the snapshot store, whose churn during a snapshot
   * would otherwise wake us thousands of times). The main watcher covers the standard folders and is never
   * replaced (a new watcher needs a moment before it reports, and an edit in that moment would be missed);
   * a second one follows artifacts the manifest places elsewhere.
   */
  private watch(entry: CollectionEntry, folders: readonly string[]): void {
    const onEvent = (uri: vscode.Uri): void => this.onFileEvent(entry, uri);
    const create = (glob: string): vscode.FileSystemWatcher => {
      const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(entry.uri, glob));
      watcher.onDidChange(onEvent);
      watcher.onDidCreate(onEvent);
      watcher.onDidDelete(onEvent);
      return watcher;
    };
    if (!entry.watcher) {
      const fixed = [MANIFEST, 'collection.lock', `${STATE_DIR}/journal.json`, `${STATE_DIR}/writer.lock`];
      entry.watcher = create(`{${[...fixed, ...DEFAULT_TOP_FOLDERS.map((f) => `${f}/**`)].join(',')}}`);
    }
    const extra = folders.filter((folder) => !DEFAULT_TOP_FOLDERS.includes(folder));
    const glob = extra.length > 0 ? `{${extra.map((f) => `${f}/**`).join(',')}}` : '';
    if (glob === entry.watchedGlob) return;
    entry.extraWatcher?.dispose();
    entry.extraWatcher = glob ? create(glob) : undefined;
    entry.watchedGlob = glob;
  }

  private onFileEvent(entry: CollectionEntry, uri: vscode.Uri): void {
    const rel = path.relative(entry.dir, uri.fsPath).split(path.sep).join('/');
    if (rel === `${STATE_DIR}/writer.lock`) {
      clearTimeout(entry.lockTimer);
      entry.lockTimer = setTimeout(() => this.refreshLock(entry), LOCK_DEBOUNCE_MS);
      return;
    }
    if (rel.startsWith(`${STATE_DIR}/`) && rel !== `${STATE_DIR}/journal.json`) return;
    if (rel.endsWith('.ak-tmp')) return; // a staged file of a running transaction
    if (entry.operation?.mutates) {
      entry.pendingRefresh = true;
      return;
    }
    clearTimeout(entry.refreshTimer);
    entry.refreshTimer = setTimeout(() => void this.refreshNow(entry), REFRESH_DEBOUNCE_MS);
  }

  private updateContextKeys(): void {
    const all = [...this.entries.values()];
    this.setContext('artifactKeeper.collectionCount', all.length);
    this.setContext('artifactKeeper.discovered', this.discovered);
    // A Claude Code project without a collection: its artifacts live in .claude/, where a collection's
    // skills/ would never be read; the view then does not offer to create or add into it.
    this.setContext('artifactKeeper.claudeProject', all.length === 0 && claudeProjectFolder() !== undefined);
    this.setContext(
      'artifactKeeper.busy',
      all.some((e) => e.operation?.mutates === true),
    );
    this.setContext(
      'artifactKeeper.conflicted',
      all.some((e) => e.conflicted.size > 0 || e.conflicts.size > 0),
    );
    this.setContext(
      'artifactKeeper.interrupted',
      all.some((e) => e.report?.state === 'interrupted'),
    );
  }

  private setContext(key: string, value: unknown): void {
    if (this.contextKeys.get(key) === value) return;
    this.contextKeys.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }
}

/** The first path segment of every artifact (its folder, or the file for a root-level artifact). */
function topFolders(report: ConsistencyReport): string[] {
  const folders = new Set<string>();
  for (const artifact of report.artifacts) {
    const first = artifact.path.split('/')[0];
    if (first && first !== '.' && first !== '..') folders.add(first);
  }
  return [...folders].sort();
}

function changedArtifacts(
  before: ConsistencyReport | undefined,
  after: ConsistencyReport | undefined,
): { artifacts?: string[] } {
  if (!before || !after || before.state !== after.state || before.artifacts.length !== after.artifacts.length)
    return {};
  const old = new Map(before.artifacts.map((a) => [a.id, a]));
  const changed: string[] = [];
  for (const artifact of after.artifacts) {
    const previous = old.get(artifact.id);
    if (!previous) return {};
    if (
      previous.state !== artifact.state ||
      previous.version !== artifact.version ||
      previous.currentHash !== artifact.currentHash
    ) {
      changed.push(artifact.id);
    }
  }
  return { artifacts: changed };
}

/** Whether `child` is `parent` or below it (a name that merely starts with `..` is below). */
function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** Whether `dir` is a workspace folder or inside one. */
function inWorkspace(dir: string): boolean {
  return (vscode.workspace.workspaceFolders ?? []).some(
    (folder) => folder.uri.scheme === 'file' && isInside(folder.uri.fsPath, dir),
  );
}

/** The first workspace folder that is a Claude Code project (has `.claude/`) without a `collection.toml`. */
export function claudeProjectFolder(): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.workspaceFolders?.find(
    (folder) =>
      folder.uri.scheme === 'file' &&
      fs.existsSync(path.join(folder.uri.fsPath, '.claude')) &&
      !holdsCollection(folder.uri.fsPath),
  );
}
