/**
 * Processes on this host: whether a pid is still the process it was (pid and kernel start time, from
 * Linux's /proc), and the owner mark every git child of ours carries, so that the git processes a killed
 * writer leaves running (its children outlive a `kill -9`) can be found and stopped before its writer
 * lock is reclaimed: left alone, a `git gc` of a dead writer would go on repacking beside the next one.
 * Without /proc (macOS, Windows) liveness falls back to `kill(pid, 0)` and orphans are not looked for.
 */
import * as fs from 'node:fs';

/** The variable in the environment of every git process we start: `<pid>:<start time>` of its owner. */
export const OWNER_ENV = 'ARTIFACT_KEEPER_OWNER';

/** How long a reclaimer waits for a dead writer's orphans to be gone after SIGKILL. */
const ORPHAN_WAIT_MS = 5_000;

export interface ProcessIdentity {
  pid: number;
  /** Kernel start time (field 22 of /proc/<pid>/stat); undefined where there is no /proc. */
  pidStart?: string | undefined;
}

/** Linux start time of a process (field 22 of /proc/<pid>/stat), or undefined where there is no /proc. */
export function readPidStart(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

export function readProcStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const startTime = rest[22 - 3];
  return state !== undefined && startTime !== undefined ? { state, startTime } : undefined;
}

/** Alive, not a zombie, and not a later process that got the same pid. */
export function isProcessAlive(pid: number, pidStart: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = readProcStat(pid);
  if (!now) return true; // no /proc (macOS, Windows): the kill probe is all we have
  if (now.state === 'Z' || now.state === 'X') return false;
  return pidStart === undefined || now.startTime === pidStart;
}

let ownMark: string | undefined;

/** This process's owner mark, the value of OWNER_ENV for the git processes it starts. */
export function ownerMark(): string {
  return (ownMark ??= markOf({ pid: process.pid, pidStart: readPidStart(process.pid) }));
}

function markOf(owner: ProcessIdentity): string {
  return `${owner.pid}:${owner.pidStart ?? ''}`;
}

/**
 * SIGKILLs the processes that carry `owner`'s mark (its git children and theirs, orphaned when it was
 * killed) and waits until they are gone. Only for an owner known to be dead: its work is lost anyway, and
 * its lock is about to pass to another writer. Returns how many were found.
 */
export async function stopOrphansOf(owner: ProcessIdentity): Promise<number> {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return 0;
  }
  const wanted = `${OWNER_ENV}=${markOf(owner)}`;
  const orphans: ProcessIdentity[] = [];
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone meanwhile, or someone else's
    }
    if (!environ.split('\0').includes(wanted)) continue;
    orphans.push({ pid, pidStart: readPidStart(pid) });
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + ORPHAN_WAIT_MS;
  while (orphans.some((o) => isProcessAlive(o.pid, o.pidStart)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return orphans.length;
}
