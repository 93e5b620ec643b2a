/**
 * Fault injection for the IO ports: wraps an `Fs` so that the n-th call of a named operation (or of
 * any operation) fails with a chosen errno. Used by the tests and, through the environment variable
 * ARTIFACT_KEEPER_FAULT, by the CLI for the crash and fault campaigns. Never active unless asked.
 */
import type { Fs, FsOp } from './fs.js';

export interface FaultRule {
  /** Operation to fail, or '*' for any mutating operation. */
  op: FsOp | 'git' | '*';
  /** 1-based index of the matching call that fails. */
  nth: number;
  errno: string;
  /** Only calls whose path contains this text count. */
  pathIncludes?: string;
}

export class FaultPlan {
  private readonly counts = new Map<string, number>();
  /** Every matching call seen, for tests that enumerate the IO steps of an operation. */
  readonly calls: { op: string; path: string }[] = [];
  fired: FaultRule | undefined;

  constructor(readonly rules: FaultRule[]) {}

  /** Throws the injected error when this call is the one a rule names. */
  hit(op: FsOp | 'git', target: string): void {
    this.calls.push({ op, path: target });
    for (const rule of this.rules) {
      if (rule.op !== '*' && rule.op !== op) continue;
      if (rule.op === '*' && op === 'readFile') continue;
      if (rule.pathIncludes && !target.includes(rule.pathIncludes)) continue;
      const key = `${rule.op}|${rule.pathIncludes ?? ''}|${rule.nth}`;
      const count = (this.counts.get(key) ?? 0) + 1;
      this.counts.set(key, count);
      if (count === rule.nth) {
        this.fired = rule;
        const err = new Error(`${rule.errno}: injected fault, ${op} '${target}'`) as NodeJS.ErrnoException;
        err.code = rule.errno;
        throw err;
      }
    }
  }
}

/** Parses `op:nth:ERRNO[:pathIncludes]`, comma separated, e.g. `rename:3:EIO,fsync:1:ENOSPC`. */
export function parseFaultSpec(spec: string): FaultRule[] {
  return spec
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const [op, nth, errno, pathIncludes] = part.split(':');
      if (!op || !nth || !errno) throw new Error(`bad fault spec "${part}" (want op:nth:ERRNO)`);
      return {
        op: op as FaultRule['op'],
        nth: Number(nth),
        errno,
        ...(pathIncludes ? { pathIncludes } : {}),
      };
    });
}

export function withFaults(base: Fs, plan: FaultPlan): Fs {
  return {
    readFile: async (file) => (plan.hit('readFile', file), base.readFile(file)),
    writeFile: async (file, data, mode) => (plan.hit('writeFile', file), base.writeFile(file, data, mode)),
    appendFile: async (file, data) => (plan.hit('appendFile', file), base.appendFile(file, data)),
    copyFile: async (from, to, mode) => (plan.hit('copyFile', to), base.copyFile(from, to, mode)),
    fsync: async (target) => (plan.hit('fsync', target), base.fsync(target)),
    rename: async (from, to) => (plan.hit('rename', to), base.rename(from, to)),
    unlink: async (file) => (plan.hit('unlink', file), base.unlink(file)),
    mkdir: async (dir) => (plan.hit('mkdir', dir), base.mkdir(dir)),
    rmdir: async (dir) => (plan.hit('rmdir', dir), base.rmdir(dir)),
    rm: async (target) => (plan.hit('rm', target), base.rm(target)),
    symlink: async (target, file) => (plan.hit('symlink', file), base.symlink(target, file)),
    chmod: async (file, mode) => (plan.hit('chmod', file), base.chmod(file, mode)),
  };
}
