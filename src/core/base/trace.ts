/**
 * Phase timings and counters of one run, for `ARTIFACT_KEEPER_TRACE=1` (the bench's phase breakdown of
 * an update). Process-wide and off until a front end calls `startTrace`: the core only marks its phases,
 * and when tracing is off a mark costs one call and a branch. Never part of an operation's outcome.
 */

/** One timed phase: its name, when it started (ms since the process started) and how long it took. */
export interface TracePhase {
  name: string;
  startMs: number;
  ms: number;
  /** How many recorded phases enclose it (0: top level). */
  depth: number;
}

export interface TraceReport {
  /** In order of their start, an enclosing phase before the phases inside it. */
  phases: TracePhase[];
  /** Named counters, e.g. `git` (every git process the git port started) and `git cat-file`. */
  counts: Record<string, number>;
}

interface Recorder {
  phases: Omit<TracePhase, 'depth'>[];
  counts: Record<string, number>;
}

let recorder: Recorder | undefined;

/** Turns tracing on for the rest of this process (idempotent). */
export function startTrace(): void {
  recorder ??= { phases: [], counts: {} };
}

/** What was recorded so far, nesting worked out from the times; undefined when tracing is off. */
export function traceReport(): TraceReport | undefined {
  if (!recorder) return undefined;
  const sorted = [...recorder.phases].sort((a, b) => a.startMs - b.startMs || b.ms - a.ms);
  const phases = sorted.map((p) => ({
    ...p,
    depth: sorted.filter((q) => q !== p && q.startMs <= p.startMs && q.startMs + q.ms >= p.startMs + p.ms)
      .length,
  }));
  return { phases, counts: { ...recorder.counts } };
}

/** Records a phase measured elsewhere (e.g. Node's start-up, from `performance.nodeTiming`). */
export function tracePhase(name: string, startMs: number, ms: number): void {
  recorder?.phases.push({ name, startMs, ms });
}

/**
 * Starts the phase `name` and returns the function that ends it, for work that is not one function (a
 * loop with early exits). Nothing is recorded when tracing is off, or when the end is never called.
 */
export function traceStart(name: string): () => void {
  const active = recorder;
  if (!active) return noop;
  const startMs = performance.now();
  return () => {
    active.phases.push({ name, startMs, ms: performance.now() - startMs });
  };
}

const noop = (): void => undefined;

/** Runs `work` as the phase `name`: timed when tracing is on (also when it throws), just run otherwise. */
export async function traced<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (!recorder) return work();
  const end = traceStart(name);
  try {
    return await work();
  } finally {
    end();
  }
}

/** `traced` for synchronous work. */
export function tracedSync<T>(name: string, work: () => T): T {
  if (!recorder) return work();
  const end = traceStart(name);
  try {
    return work();
  } finally {
    end();
  }
}

/** Adds `by` (one) to the counter `name` when tracing is on. */
export function traceCount(name: string, by = 1): void {
  if (recorder) recorder.counts[name] = (recorder.counts[name] ?? 0) + by;
}
