/**
 * Object readers kept from one operation to the next, for a process that lives on (the daemon): each
 * `cat-file --batch` the git port starts costs a fork of this process and git's own start (10–15 ms on
 * two cores, most of it on the main thread), and a store opened per operation started one every time.
 *
 * A reader is lent to every store that asks (one process answers reads in the order they were asked) and
 * comes back when the store closes it. It is kept while its process is healthy: one that failed or exited
 * is replaced at the next lend, and one that came back from its last store with reads still in flight (a
 * cancelled operation) is closed, so that nothing is left waiting in it. A long-lived
 * `cat-file` sees what other processes write to the repository later: git looks a loose object up by
 * its path and rescans the packs when an object is not in those it knows, and reads a ref from disk each
 * time it is asked.
 */
import type { ObjectReader } from './gitObjectReader.js';

interface Kept {
  reader: ObjectReader;
  /** Stores it is lent to now: one `cat-file` answers several in request order. */
  leases: number;
}

export class KeptObjectReaders {
  private readonly kept = new Map<string, Kept>();

  /**
   * A reader for `key` (the git executable and repository): the kept one while it is healthy, else one
   * `open` starts, kept from now on. Closing what this returns gives it back.
   */
  lend(key: string, open: () => ObjectReader): ObjectReader {
    let entry = this.kept.get(key);
    if (entry && !entry.reader.healthy()) {
      entry.reader.close();
      this.kept.delete(key);
      entry = undefined;
    }
    if (!entry) {
      entry = { reader: open(), leases: 0 };
      this.kept.set(key, entry);
    }
    const lent = entry;
    lent.leases++;
    let returned = false;
    return {
      read: (sha) => lent.reader.read(sha),
      readRef: (ref) => lent.reader.readRef(ref),
      readSpilling: (sha, spill) => lent.reader.readSpilling(sha, spill),
      healthy: () => !returned && lent.reader.healthy(),
      idle: () => lent.reader.idle(),
      close: () => {
        if (returned) return;
        returned = true;
        lent.leases--;
        if (lent.leases > 0 || (lent.reader.healthy() && lent.reader.idle())) return;
        lent.reader.close();
        if (this.kept.get(key) === lent) this.kept.delete(key);
      },
    };
  }

  /** How many readers are kept. */
  get size(): number {
    return this.kept.size;
  }

  /** Ends every kept reader's process (the daemon stopping). */
  closeAll(): void {
    for (const { reader } of this.kept.values()) reader.close();
    this.kept.clear();
  }
}
