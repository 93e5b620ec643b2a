/**
 * A long-lived `git cat-file --batch` for the git port (git.ts): one process answers any number of object
 * reads, in request order. A failure of the process fails every pending and later read; the port guards
 * the object ids before they reach git. Each object's bytes are copied once, into a buffer of its size, or
 * (a large blob the caller asked to spill) written straight to a file, so memory stays bounded.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as nodeFs from 'node:fs';
import { CoreError, firstLine } from '../base/errors.js';
import { fsPath } from '../base/fileNames.js';

export interface CatFileObject {
  type: string;
  data: Buffer;
}

/** An object written to a file instead of memory (`SpillOptions`). */
export interface SpilledObject {
  type: string;
  size: number;
  file: string;
}

/**
 * Objects of more than `over` bytes go to a new file instead of memory: `file()` names it when one does
 * (it must not exist; its folder must).
 */
export interface SpillOptions {
  over: number;
  file: () => string;
}

/** A long-lived `git cat-file --batch`: one process answers any number of reads, in order. */
export interface ObjectReader {
  /** The object, or undefined when the repository does not have it. */
  read(sha: string): Promise<CatFileObject | undefined>;
  /** The object a ref of ours points at (`refs/upstream/…`), or undefined when the ref does not exist. */
  readRef(ref: string): Promise<CatFileObject | undefined>;
  /** The same, but an object larger than `spill.over` is written to `spill.file` and not held in memory. */
  readSpilling(sha: string, spill: SpillOptions): Promise<CatFileObject | SpilledObject | undefined>;
  /** Not closed, not failed, its process still running: a later read can be answered. */
  healthy(): boolean;
  /** No read is waiting for its answer. */
  idle(): boolean;
  close(): void;
}

interface PendingRead {
  sha: string;
  spill: SpillOptions | undefined;
  resolve: (value: CatFileObject | SpilledObject | undefined) => void;
  reject: (err: unknown) => void;
}

/** The object whose bytes are arriving: into `data`, or into the file open as `fd`. */
interface Body {
  request: PendingRead;
  type: string;
  size: number;
  /** Bytes of the object received so far (the LF git ends each answer with is not counted). */
  got: number;
  data?: Buffer;
  fd?: number;
  file?: string;
}

/**
 * Parses `<sha> <type> <size>\n<bytes>\n` / `<sha> missing\n` answers in request order. The git process
 * keeps this process alive only while a request waits for its answer: an idle reader a caller forgot
 * to close never holds a CLI, a test or the extension host open (git sees its stdin close when we exit).
 */
export class BatchObjectReader implements Omit<ObjectReader, 'readRef'> {
  private readonly pending: PendingRead[] = [];
  /** Bytes received but not consumed yet: at most a header line and the chunk it came with. */
  private leftover: Buffer = Buffer.alloc(0);
  private body: Body | undefined;
  private failure: Error | undefined;
  private closed = false;
  private stderr = '';

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => {
      try {
        this.consume(chunk);
      } catch (err) {
        this.fail(err as Error);
        child.kill();
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => this.fail(err));
    child.on('close', () =>
      this.fail(
        new CoreError({
          code: 'git-failed',
          command: 'cat-file',
          reason: firstLine(this.stderr) || 'cat-file exited',
        }),
      ),
    );
    this.hold(false);
  }

  read(sha: string): Promise<CatFileObject | undefined> {
    return this.request(sha, undefined) as Promise<CatFileObject | undefined>;
  }

  readSpilling(sha: string, spill: SpillOptions): Promise<CatFileObject | SpilledObject | undefined> {
    return this.request(sha, spill);
  }

  healthy(): boolean {
    return !this.closed && !this.failure && this.child.exitCode === null && this.child.signalCode === null;
  }

  idle(): boolean {
    return this.pending.length === 0 && this.body === undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin.end();
  }

  /** Keeps the process alive while answers are awaited, and lets it go when none is. */
  private hold(waiting: boolean): void {
    // The pipes are sockets (`ref`/`unref`), though typed as plain streams.
    const pipes = [this.child.stdout, this.child.stderr, this.child.stdin] as unknown[] as {
      ref?: () => void;
      unref?: () => void;
    }[];
    if (waiting) this.child.ref();
    else this.child.unref();
    for (const pipe of pipes) (waiting ? pipe.ref : pipe.unref)?.call(pipe);
  }

  private request(
    sha: string,
    spill: SpillOptions | undefined,
  ): Promise<CatFileObject | SpilledObject | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('object reader is closed'));
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) this.hold(true);
      this.pending.push({ sha, spill, resolve, reject });
      this.child.stdin.write(`${sha}\n`);
    });
  }

  private consume(chunk: Buffer): void {
    let input = this.leftover.length === 0 ? chunk : Buffer.concat([this.leftover, chunk]);
    this.leftover = Buffer.alloc(0);
    while (input.length > 0 && !this.failure) {
      if (this.body) {
        input = this.takeBody(this.body, input);
        continue;
      }
      const head = this.pending[0];
      const eol = input.indexOf(0x0a);
      if (!head || eol < 0) {
        this.leftover = input;
        return;
      }
      const header = input.subarray(0, eol).toString('utf8');
      input = input.subarray(eol + 1);
      const parts = header.split(' ');
      if (parts[1] === 'missing') {
        this.pending.shift();
        if (this.pending.length === 0) this.hold(false);
        head.resolve(undefined);
        continue;
      }
      const size = Number(parts[2]);
      if (parts.length !== 3 || !Number.isInteger(size) || size < 0) {
        this.fail(
          new CoreError({ code: 'git-failed', command: 'cat-file', reason: `unexpected answer "${header}"` }),
        );
        return;
      }
      this.body = { request: head, type: parts[1] ?? '', size, got: 0 };
      if (head.spill && size > head.spill.over) {
        this.body.file = head.spill.file();
        this.body.fd = nodeFs.openSync(fsPath(this.body.file), 'wx');
      } else {
        this.body.data = Buffer.allocUnsafe(size);
      }
    }
  }

  /** Takes the current object's bytes (and the LF after them) from `input`; returns what is left. */
  private takeBody(body: Body, input: Buffer): Buffer {
    const wanted = body.size - body.got;
    const bytes = input.subarray(0, Math.min(wanted, input.length));
    if (body.fd !== undefined) {
      for (let at = 0; at < bytes.length;) at += nodeFs.writeSync(body.fd, bytes, at, bytes.length - at);
    } else {
      bytes.copy(body.data as Buffer, body.got);
    }
    body.got += bytes.length;
    const rest = input.subarray(bytes.length);
    // The object is complete once the LF after it has arrived too.
    if (body.got < body.size || rest.length === 0) return rest;
    this.body = undefined;
    this.pending.shift();
    if (this.pending.length === 0) this.hold(false);
    if (body.fd !== undefined) {
      nodeFs.closeSync(body.fd);
      body.request.resolve({ type: body.type, size: body.size, file: body.file as string });
    } else {
      body.request.resolve({ type: body.type, data: body.data as Buffer });
    }
    return rest.subarray(1);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    if (this.body?.fd !== undefined) nodeFs.closeSync(this.body.fd);
    this.body = undefined;
    for (const request of this.pending.splice(0)) request.reject(err);
    this.hold(false);
  }
}
