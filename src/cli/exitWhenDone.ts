/**
 * Ends the CLI's process once its command is done and nothing else is left running. Left to itself,
 * Node leaves only when its event loop is empty, and before that it waits for the V8 tasks still queued:
 * after a `status` of the 2,000-artifact collection, a garbage collection begun during the check, 18–33 ms
 * of every run that change nothing. When anything else is still active (a git process, a file operation,
 * a timer, a stdin being read), the process is left to end as before, so work begun is never cut short.
 */
import * as fs from 'node:fs';

/** What the standard output streams hold in `process.getActiveResourcesInfo()`, when anything. */
const STREAM_HANDLES = new Set(['TTYWrap', 'PipeWrap']);

/**
 * Whether the active resources are only the handles of the `streams` standard output streams that are
 * terminals or pipes (a file is written synchronously and holds none).
 */
export function onlyOutputStreams(active: readonly string[], streams: number): boolean {
  return active.length <= streams && active.every((type) => STREAM_HANDLES.has(type));
}

/** How many of stdout and stderr are terminals, pipes or sockets (each holds a handle while open). */
function outputStreamHandles(): number {
  let n = 0;
  for (const fd of [1, 2]) {
    try {
      const stat = fs.fstatSync(fd);
      if (stat.isCharacterDevice() || stat.isFIFO() || stat.isSocket()) n++;
    } catch {
      // A closed descriptor holds no handle.
    }
  }
  return n;
}

/**
 * Sets the exit code; then, when only stdout and stderr are left, exits once both have flushed what was
 * written to them (at once on Linux, where they are synchronous; pipes are not elsewhere).
 */
export function exitWhenDone(code: number): void {
  process.exitCode = code;
  // Looked at once the I/O callback the command ended in has returned: a file closed just before (its
  // promise settled inside that callback) is still listed until then.
  setImmediate(() => {
    if (!onlyOutputStreams(process.getActiveResourcesInfo(), outputStreamHandles())) return;
    let pending = 2;
    const flushed = (): void => {
      if (--pending === 0) process.exit(code);
    };
    process.stdout.write('', flushed);
    process.stderr.write('', flushed);
  });
}
