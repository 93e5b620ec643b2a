/**
 * The worker thread side of `checker.ts`: collection checks and project drift checks run here, off the thread that asked, one at
 * a time, with each collection's stat cache kept between them. A check the asking side has superseded is
 * dropped at its next pause (a shared cancel ring, read between artifacts, because this thread never
 * reads its messages while a check runs). Failures cross back as data and become the same errors again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { CoreError } from '../base/errors.js';
import type { Failure } from '../base/errors.js';
import { driftCheckSteps } from '../projects/driftCheck.js';
import type { DriftCheckOutcome, DriftCheckRequest, DriftCheckRun } from '../projects/driftCheck.js';
import { collectionCheckSteps } from './collectionCheck.js';
import type {
  CollectionCheckOutcome,
  CollectionCheckRequest,
  CollectionCheckRun,
} from './collectionCheck.js';
import type { StatCache } from './statCache.js';

/** Slots of the cancel ring: request `id` is cancelled when slot `id % CANCEL_SLOTS` holds `id`. */
export const CANCEL_SLOTS = 256;

/** What the worker is started with (`workerData`). */
export interface CheckWorkerData {
  kind: 'artifact-keeper-check';
  /** `CANCEL_SLOTS` Int32 slots. */
  cancelRing: SharedArrayBuffer;
}

/** One piece of work for the worker: a collection's consistency check, or a project's drift. */
export type CheckJob =
  { kind: 'collection'; request: CollectionCheckRequest } | { kind: 'drift'; request: DriftCheckRequest };

export type ToWorker =
  /** `key`: a newer job with the same key replaces this one (see `CollectionChecker`). */
  | { type: 'job'; id: number; job: CheckJob; key: string }
  /** The collection is no longer shown: drop its stat cache. */
  | { type: 'forget'; dir: string };

/** An error as data: a CoreError keeps its failure, so its message and its handling are the same. */
export interface WireError {
  failure?: Failure;
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export type WireOutcome =
  | Exclude<CollectionCheckOutcome, { kind: 'failed' | 'superseded' }>
  | Exclude<DriftCheckOutcome, { kind: 'failed' | 'superseded' }>
  | { kind: 'failed'; error: WireError }
  | { kind: 'superseded' };

export interface FromWorker {
  type: 'done';
  id: number;
  /**
   * The `WireOutcome` as JSON: the asking thread parses a string about three times faster than it
   * deserializes the same report as a structured clone (2,000 artifacts: ~7 against ~20 ms), and that
   * parse is the one piece of a check left on its event loop. The outcome is plain data, so it is exact.
   */
  outcome: string;
}

export function toWire(err: unknown): WireError {
  if (err instanceof CoreError) return { failure: err.failure, name: err.name, message: err.message };
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      name: err.name,
      message: err.message,
      ...(err.stack !== undefined ? { stack: err.stack } : {}),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}

export function fromWire(wire: WireError): Error {
  if (wire.failure) return new CoreError(wire.failure);
  const err = new Error(wire.message) as NodeJS.ErrnoException;
  err.name = wire.name;
  if (wire.stack !== undefined) err.stack = wire.stack;
  if (wire.code !== undefined) err.code = wire.code;
  return err;
}

/** Whether request `id` was cancelled, as the asking side wrote it into the ring. */
export function isCancelled(ring: Int32Array, id: number): boolean {
  return Atomics.load(ring, id % CANCEL_SLOTS) === id;
}

export function cancel(ring: Int32Array, id: number): void {
  Atomics.store(ring, id % CANCEL_SLOTS, id);
}

/**
 * Serves checks on this worker's parent port until the thread is terminated. Called by the bundled
 * worker entry; does nothing on the main thread or in a worker started for something else.
 */
export function serveCollectionChecks(): void {
  const data = workerData as Partial<CheckWorkerData> | undefined;
  if (!parentPort || data?.kind !== 'artifact-keeper-check' || !data.cancelRing) return;
  const port: MessagePort = parentPort;
  const ring = new Int32Array(data.cancelRing);
  const caches = new Map<string, StatCache>();
  /** Waiting jobs, at most one per key (a newer one replaces an older one). */
  const waiting = new Map<string, { id: number; job: CheckJob }>();
  let draining = false;
  let scheduled = false;

  const reply = (id: number, outcome: WireOutcome): void =>
    port.postMessage({ type: 'done', id, outcome: JSON.stringify(outcome) } satisfies FromWorker);

  const drain = async (): Promise<void> => {
    draining = true;
    try {
      for (let next = first(waiting); next; next = first(waiting)) {
        const [key, { id, job }] = next;
        waiting.delete(key);
        const steps: Generator<void, CollectionCheckRun | DriftCheckRun> =
          job.kind === 'collection'
            ? collectionCheckSteps(job.request, caches, true)
            : driftCheckSteps(job.request);
        let step: IteratorResult<void, CollectionCheckRun | DriftCheckRun> | undefined;
        // Looked at before every step, the first included: a check superseded while it waited never starts.
        while (!isCancelled(ring, id)) {
          step = steps.next();
          if (step.done) break;
        }
        if (!step?.done) {
          steps.return(undefined as never);
          reply(id, { kind: 'superseded' });
          continue;
        }
        const { outcome, saved } = step.value;
        try {
          reply(id, outcome.kind === 'failed' ? { kind: 'failed', error: toWire(outcome.error) } : outcome);
        } catch (err) {
          reply(id, { kind: 'failed', error: toWire(err) }); // an outcome that cannot be copied (a bug)
        }
        // The next check starts after this one's cache writes, so they land in the order of the checks.
        await saved;
      }
    } finally {
      draining = false;
    }
  };

  port.on('message', (message: ToWorker) => {
    if (message.type === 'forget') {
      caches.delete(message.dir);
      return;
    }
    const older = waiting.get(message.key);
    if (older) reply(older.id, { kind: 'superseded' });
    waiting.set(message.key, { id: message.id, job: message.job });
    // Later: the messages already queued arrive first, so only the newest check of a collection runs.
    if (draining || scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void drain();
    });
  });
}

function first<K, V>(map: Map<K, V>): [K, V] | undefined {
  for (const entry of map) return entry;
  return undefined;
}
