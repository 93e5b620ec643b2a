/**
 * A long-lived `git cat-file --batch` for the git port (git.ts): one process answers any number of object
 * reads, in request order. A failure of the process fails every pending and later read; the port guards
 * the object ids before they reach git.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { CoreError, firstLine } from '../base/errors.js';

export interface CatFileObject {
  type: string;
  data: Buffer;
}

/** A long-lived `git cat-file --batch`: one process answers any number of reads, in order. */
export interface ObjectReader {
  /** The object, or undefined when the repository does not have it. */
  read(sha: string): Promise<CatFileObject | undefined>;
  /** The object a ref of ours points at (`refs/upstream/…`), or undefined when the ref does not exist. */
  readRef(ref: string): Promise<CatFileObject | undefined>;
  close(): void;
}

interface PendingRead {
  sha: string;
  resolve: (value: CatFileObject | undefined) => void;
  reject: (err: unknown) => void;
}

/** Parses `<sha> <type> <size>\n<bytes>\n` / `<sha> missing\n` answers in request order. */
export class BatchObjectReader implements Omit<ObjectReader, 'readRef'> {
  private readonly pending: PendingRead[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private closed = false;
  private stderr = '';

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
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
  }

  read(sha: string): Promise<CatFileObject | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('object reader is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ sha, resolve, reject });
      this.child.stdin.write(`${sha}\n`);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin.end();
  }

  private drain(): void {
    for (;;) {
      const head = this.pending[0];
      if (!head) return;
      const eol = this.buffer.indexOf(0x0a);
      if (eol < 0) return;
      const header = this.buffer.subarray(0, eol).toString('utf8');
      const parts = header.split(' ');
      if (parts[1] === 'missing') {
        this.buffer = this.buffer.subarray(eol + 1);
        this.pending.shift();
        head.resolve(undefined);
        continue;
      }
      const size = Number(parts[2]);
      if (parts.length !== 3 || !Number.isInteger(size)) {
        this.fail(
          new CoreError({ code: 'git-failed', command: 'cat-file', reason: `unexpected answer "${header}"` }),
        );
        return;
      }
      if (this.buffer.length < eol + 1 + size + 1) return;
      const data = Buffer.from(this.buffer.subarray(eol + 1, eol + 1 + size));
      this.buffer = this.buffer.subarray(eol + 1 + size + 1);
      this.pending.shift();
      head.resolve({ type: parts[1] ?? '', data });
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const request of this.pending.splice(0)) request.reject(err);
  }
}
