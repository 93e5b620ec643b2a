/**
 * Fault and crash helpers shared by the engine's tests: the rule that fails exactly one recorded call,
 * and an Fs that stops dead before a given call (a deterministic kill -9, without a child process).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { FaultRule } from '../../../src/core/ports/faults.js';
import type { Fs, FsOp } from '../../../src/core/ports/fs.js';

/** The rule that fails exactly call `k` of a recorded call list (counting calls of the same op). */
export function ruleFor(calls: { op: string }[], k: number, errno: string): FaultRule {
  const call = calls[k];
  assert.ok(call, `no call ${k}`);
  const nth = calls.slice(0, k + 1).filter((c) => c.op === call.op).length;
  return { op: call.op as FsOp, nth, errno };
}

/**
 * An Fs that performs calls 0..n-1 and then stops dead: call n and every later call never settle. To the
 * disk this is exactly a process killed before call n, deterministically, without a child process.
 */
export function freezeBefore(base: Fs, n: number): { fs: Fs; frozen: Promise<void> } {
  let count = 0;
  let onFrozen = (): void => undefined;
  const frozen = new Promise<void>((resolve) => (onFrozen = resolve));
  const gate =
    <A extends unknown[], R>(work: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      if (count++ < n) return work(...args);
      onFrozen();
      return new Promise<R>(() => undefined);
    };
  return {
    frozen,
    fs: {
      readFile: gate(base.readFile),
      writeFile: gate(base.writeFile),
      appendFile: gate(base.appendFile),
      copyFile: gate(base.copyFile),
      fsync: gate(base.fsync),
      rename: gate(base.rename),
      unlink: gate(base.unlink),
      mkdir: gate(base.mkdir),
      rmdir: gate(base.rmdir),
      rm: gate(base.rm),
      symlink: gate(base.symlink),
      chmod: gate(base.chmod),
    },
  };
}

/**
 * Kills this process's child processes (the `git cat-file` of a store a frozen operation never closed),
 * so the test process can end. Linux /proc only; elsewhere nothing to do.
 */
export function killChildren(): void {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) process.kill(Number(name), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
