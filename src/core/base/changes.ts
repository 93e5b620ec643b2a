/**
 * The vocabulary shared by the snapshot store, the update planner and the transaction engine: a
 * change to one path of the collection. Paths are POSIX, relative to the collection root.
 */

/**
 * A write's bytes: in memory, read when staged (into memory, or, a large file, into a file to copy), or a
 * file's (copied when staged, never read into memory).
 */
export type FileData = Uint8Array | (() => Promise<Uint8Array | CopyOf>) | CopyOf;

/** Bytes that are a file's: copied where they go, never read into memory. */
export interface CopyOf {
  copyOf: string;
}

export type FileChange =
  /** Create or replace a regular file (mode 0o644 or 0o755) or a symlink (`symlinkTarget`). */
  (
    | { kind: 'write'; rel: string; data: FileData; mode: number; symlinkTarget?: string }
    /** Remove a file or symlink. */
    | { kind: 'delete'; rel: string }
    /** Create a folder (its parents must exist or be created by earlier changes). */
    | { kind: 'mkdir'; rel: string }
    /** Remove a folder that the earlier changes have emptied. */
    | { kind: 'rmdir'; rel: string }
  ) & {
    /**
     * The absolute path of another folder `rel` is inside, changed by the same transaction (a project's
     * profile root); default: the collection. It must be a real path on the collection's file system.
     */
    root?: string;
  };

export interface Logger {
  trace(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string | Error, ...args: unknown[]): void;
}

export const silentLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Our own state folder inside a collection: never hashed, snapshotted or deployed. */
export const STATE_DIR = '.artifact-keeper';
