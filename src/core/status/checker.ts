/**
 * Runs the checks of the collections a window shows, and the drift of the projects it shows, off the asking thread: in a worker thread
 * (`checkWorker.ts`) when its bundled entry is given, so loading, stat-ing and hashing a large collection
 * never hold the extension host's event loop; otherwise, or once the worker fails to start or dies, in
 * this thread with the work cut into slices between which the event loop runs. Either way the outcome is
 * the in-process check's, to the same report. The newest check of a collection wins: an older one still
 * running is dropped at its next pause and answers `superseded` at once, so a refresh never waits behind
 * the check it replaces.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../base/changes.js';
import { silentLogger } from '../base/changes.js';
import { driftCheckKey, driftCheckSteps } from '../projects/driftCheck.js';
import type { DriftCheckOutcome, DriftCheckRequest } from '../projects/driftCheck.js';
import { collectionCheckSteps } from './collectionCheck.js';
import type { CollectionCheckOutcome, CollectionCheckRequest } from './collectionCheck.js';
import { CANCEL_SLOTS, cancel, fromWire } from './checkWorker.js';
import type { CheckJob, CheckWorkerData, FromWorker, ToWorker, WireOutcome } from './checkWorker.js';
import type { StatCache } from './statCache.js';

/** The longest stretch an in-process check holds the thread before it lets the event loop run. */
const SLICE_MS = 8;

export interface CheckerOptions {
  /** The bundled worker entry (`dist/checkWorker.js`); undefined runs every check in-process. */
  workerFile?: string;
  logger?: Logger;
}

type AnyOutcome = CollectionCheckOutcome | DriftCheckOutcome;

interface Pending {
  id: number;
  job: CheckJob;
  /** What a newer job replaces this one by: the collection's folder, or the drift key of a profile root. */
  key: string;
  resolve: (outcome: AnyOutcome) => void;
  where: 'worker' | 'in-process';
  cancelled: boolean;
}

export class CollectionChecker {
  private worker: Worker | undefined;
  /** Set once the worker could not start or died: every later check runs in-process. */
  private workerFailed: boolean;
  private disposed = false;
  private nextId = 1;
  private readonly cancelRing = new SharedArrayBuffer(CANCEL_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  private readonly ring = new Int32Array(this.cancelRing);
  /** The check in flight of each collection (by folder) or profile root (by drift key), and by id. */
  private readonly byKey = new Map<string, Pending>();
  private readonly byId = new Map<number, Pending>();
  /** The stat caches of the in-process checks (the worker keeps its own). */
  private readonly caches = new Map<string, StatCache>();
  private readonly logger: Logger;

  constructor(private readonly options: CheckerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.workerFailed = options.workerFile === undefined;
  }

  /** Where the next check runs. */
  get mode(): 'worker' | 'in-process' {
    return this.workerFailed || this.disposed ? 'in-process' : 'worker';
  }

  /**
   * Checks a collection; resolves with its outcome (never rejects: a failure is the `failed` outcome), or
   * with `superseded` when a newer check of the same collection was asked for before this one ended.
   */
  check(request: CollectionCheckRequest): Promise<CollectionCheckOutcome> {
    return this.enqueue({ kind: 'collection', request }, request.dir) as Promise<CollectionCheckOutcome>;
  }

  /**
   * The drift of a project against its collection, as `checkDrift` reads it through the drift caches;
   * `superseded` when a newer drift check of the same profile root was asked for before this one ended.
   */
  drift(request: DriftCheckRequest): Promise<DriftCheckOutcome> {
    return this.enqueue({ kind: 'drift', request }, driftCheckKey(request)) as Promise<DriftCheckOutcome>;
  }

  private enqueue(job: CheckJob, key: string): Promise<AnyOutcome> {
    if (this.disposed) return Promise.resolve({ kind: 'superseded' });
    const older = this.byKey.get(key);
    if (older) this.settle(older, { kind: 'superseded' });
    return new Promise((resolve) => {
      const pending: Pending = { id: this.nextId++, job, key, resolve, where: 'worker', cancelled: false };
      this.byKey.set(key, pending);
      this.byId.set(pending.id, pending);
      const worker = this.workerFailed ? undefined : this.startWorker();
      if (worker) {
        worker.ref(); // the process waits for an answer it is owed
        worker.postMessage({ type: 'job', id: pending.id, job, key } satisfies ToWorker);
      } else this.runInProcess(pending);
    });
  }

  /** The collection is no longer shown: its stat cache goes (the next check reads it from disk again). */
  forget(dir: string): void {
    this.caches.delete(dir);
    this.worker?.postMessage({ type: 'forget', dir } satisfies ToWorker);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const pending of [...this.byId.values()]) this.settle(pending, { kind: 'superseded' });
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private startWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    const file = this.options.workerFile as string;
    let worker: Worker;
    try {
      const workerData: CheckWorkerData = { kind: 'artifact-keeper-check', cancelRing: this.cancelRing };
      worker = new Worker(file, { workerData });
    } catch (err) {
      this.fail(err);
      return undefined;
    }
    worker.on('message', (message: FromWorker) => {
      const pending = this.byId.get(message.id);
      if (pending) this.settle(pending, fromWireOutcome(JSON.parse(message.outcome) as WireOutcome));
    });
    // A missing or broken entry reports here (after 'online'), as does an uncaught error inside.
    worker.on('error', (err) => this.fail(err, worker));
    worker.on('exit', (code) => this.fail(new Error(`the check worker exited with code ${code}`), worker));
    this.worker = worker;
    this.logger.debug(`[Checker] check worker started from ${file}`);
    return worker;
  }

  /** The worker is unusable: its checks in flight, and every later one, run in-process. */
  private fail(err: unknown, worker?: Worker): void {
    if (this.disposed || (worker && worker !== this.worker)) return;
    this.worker = undefined;
    this.workerFailed = true;
    void worker?.terminate();
    this.logger.warn(
      `[Checker] checks run in the extension host from now on: the check worker failed (${err instanceof Error ? err.message : String(err)})`,
    );
    for (const pending of this.byId.values()) {
      if (pending.where !== 'worker') continue;
      this.runInProcess(pending);
    }
  }

  private settle(pending: Pending, outcome: AnyOutcome): void {
    if (this.byId.get(pending.id) !== pending) return;
    this.byId.delete(pending.id);
    if (this.byKey.get(pending.key) === pending) this.byKey.delete(pending.key);
    if (outcome.kind === 'superseded') {
      pending.cancelled = true;
      if (pending.where === 'worker') cancel(this.ring, pending.id);
    }
    if (this.worker && ![...this.byId.values()].some((p) => p.where === 'worker')) this.worker.unref();
    pending.resolve(outcome);
  }

  /** The same steps in this thread, in slices of about SLICE_MS with the event loop run between them. */
  private runInProcess(pending: Pending): void {
    pending.where = 'in-process';
    const { job } = pending;
    const steps =
      job.kind === 'collection'
        ? collectionCheckSteps(job.request, this.caches)
        : driftCheckSteps(job.request);
    const run = async (): Promise<void> => {
      // Never in the caller's tick: `check` returns at once, and a check superseded in that tick never starts.
      await yieldToLoop();
      let sliceStarted = performance.now();
      for (;;) {
        // Checked before every step: a superseded check never touches the cache its successor uses.
        if (pending.cancelled) {
          steps.return(undefined as never);
          return;
        }
        const step = steps.next();
        if (step.done) {
          this.settle(pending, step.value.outcome);
          return;
        }
        if (performance.now() - sliceStarted >= SLICE_MS) {
          await yieldToLoop();
          sliceStarted = performance.now();
        }
      }
    };
    void run();
  }
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function fromWireOutcome(outcome: WireOutcome): AnyOutcome {
  return outcome.kind === 'failed' ? { kind: 'failed', error: fromWire(outcome.error) } : outcome;
}
