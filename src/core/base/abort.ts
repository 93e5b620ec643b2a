/**
 * Cancellation: operations take an `AbortSignal` and look at it between steps. One helper, so every
 * layer fails a cancelled operation the same way (CoreError `cancelled`, which the glue shows as nothing).
 */
import { CoreError } from './errors.js';

/** Throws CoreError `cancelled` once `signal` is aborted; a missing signal never aborts. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CoreError({ code: 'cancelled' });
}
