/**
 * Running one git process to its end for the git port (git.ts): stdin fed and closed, output collected,
 * and, when asked, a process group of its own that a cancel kills whole. Invariant: the promise settles
 * only after git has exited, so a caller may remove the folders git was writing as soon as it does.
 * Environment, config and fault injection are the port's business, not this file's.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { CoreError } from '../base/errors.js';

/**
 * What git reads on stdin: bytes, or chunks made one at a time as git takes them (a pack of many objects
 * is never whole in memory). A chunk source that throws fails the call with its error.
 */
export type GitInput = string | Uint8Array | Iterable<Uint8Array>;

export interface GitProcessOptions {
  env: NodeJS.ProcessEnv;
  /** Bytes (or chunks) fed to stdin, then closed; without them stdin is /dev/null. */
  input?: GitInput | undefined;
  /** Working folder (default: this process's). */
  cwd?: string | undefined;
  /**
   * Aborting terminates git (its whole group when `ownProcessGroup`), SIGKILLs it after a grace period,
   * and rejects with CoreError `cancelled` once it has exited. A signal already aborted when git starts
   * kills it at once: a caller's logger may abort between its own check and the start.
   */
  signal?: AbortSignal | undefined;
  /**
   * Run git in a process group of its own (POSIX only), so a cancel reaches the processes git starts
   * itself (upload-pack, pack-objects, index-pack, the lazy blob fetch); killing git alone left them
   * running for seconds, holding its pipes open. The price: a terminal's Ctrl-C no longer reaches git
   * directly, so the CLI turns SIGINT into an abort.
   */
  ownProcessGroup?: boolean;
}

export interface GitProcessResult {
  stdout: Buffer;
  stderr: string;
  /** git's exit code; 128 when it was killed by a signal. */
  exitCode: number;
  /** The signal that killed it, if one did. */
  signal: NodeJS.Signals | null;
}

/** Process groups exist on POSIX only; on Windows `detached` would open a console instead. */
export const PROCESS_GROUPS = process.platform !== 'win32';

/** Time a cancelled git gets to clean up after SIGTERM before it is SIGKILLed. */
const KILL_GRACE_MS = 2000;

/**
 * Runs git and resolves with its exit code and output; a non-zero exit is reported, not thrown.
 * Rejects with the error of a process that could not start (ENOENT …), or CoreError `cancelled`.
 */
export function runGitProcess(
  binary: string,
  args: readonly string[],
  options: GitProcessOptions,
): Promise<GitProcessResult> {
  const { signal, input } = options;
  const ownGroup = (options.ownProcessGroup ?? false) && PROCESS_GROUPS;
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [...args], {
      env: options.env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
      detached: ownGroup,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      aborted = true;
      killGit(child, ownGroup, 'SIGTERM');
      killTimer = setTimeout(() => killGit(child, ownGroup, 'SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    let startError: Error | undefined;
    let inputError: unknown;
    child.on('error', (err) => {
      startError ??= err;
    });
    // A process that cannot start still emits 'close' after 'error'.
    child.on('close', (code, signalName) => {
      signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (aborted) reject(new CoreError({ code: 'cancelled' }));
      else if (startError) reject(startError);
      else if (inputError !== undefined) reject(inputError);
      else {
        resolve({
          stdout: Buffer.concat(stdout),
          stderr: Buffer.concat(stderr).toString('utf8'),
          exitCode: code ?? 128,
          signal: signalName,
        });
      }
    });
    if (child.stdin) {
      // EPIPE when git exits early (bad input); the exit code then tells the story.
      child.stdin.on('error', () => undefined);
      if (typeof input === 'string' || input instanceof Uint8Array) child.stdin.end(input);
      else if (input !== undefined) {
        feed(child.stdin, input).catch((err: unknown) => {
          // git sees its input cut short and fails; the caller gets the reason, not git's complaint.
          inputError = err;
          child.stdin?.destroy();
        });
      }
    }
  });
}

/** Writes `chunks` to git's stdin as it drains, then closes it; stops when git has closed its end. */
async function feed(stdin: Writable, chunks: Iterable<Uint8Array>): Promise<void> {
  for (const chunk of chunks) {
    if (stdin.destroyed) return;
    if (!stdin.write(chunk)) await drained(stdin);
  }
  stdin.end();
}

function drained(stdin: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}

function killGit(child: ChildProcess, ownGroup: boolean, signal: NodeJS.Signals): void {
  try {
    if (ownGroup && child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // Already gone.
  }
}
