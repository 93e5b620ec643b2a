/**
 * Child processes for the reliability tests: a CLI run that can be SIGKILLed at a chosen moment (counted
 * from the start, or from the moment `.artifact-keeper/journal.json` appears), with the journal and the
 * commit rename observed through inotify; and the processes a killed CLI leaves running (its git
 * children), found by a tag in their environment.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliEnv } from './fixture.js';

export const TAG_VARIABLE = 'AK_TORTURE_TAG';

export type KillPlan = (
  | /** SIGKILL `afterMs` after the spawn. */
    { from: 'start'; afterMs: number }
    /** SIGKILL `afterMs` after the journal appears (at `giveUpMs` after the spawn if it never does). */
  | { from: 'journal'; afterMs: number; giveUpMs: number }
) & {
  /**
   * Kill the CLI's whole process group (its snapshot-store git children die with it, as with a
   * container stop or `kill -9 -PGID`) instead of the CLI's process alone (`kill -9 PID`).
   */
  group?: boolean;
};

export interface ObservedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  /** ms from the spawn: the journal appeared, the lock was renamed (last event), the journal went, exit. */
  journalAt?: number;
  lockAt?: number;
  journalGoneAt?: number;
  exitAt: number;
  /** ms from the spawn when the SIGKILL was sent. */
  killAt?: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node cli args --collection dir` and watches the collection. With `kill`, SIGKILLs the CLI's own
 * process (like `kill -9 PID`: its git children live on, as they would for a user), or with
 * `kill.group` its process group. `tag` is put in the environment so leftover children can be found.
 */
export function runObserved(
  cli: string,
  dir: string,
  args: string[],
  options: { kill?: KillPlan; tag: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<ObservedRun> {
  const stateDir = path.join(dir, '.artifact-keeper');
  const journal = path.join(stateDir, 'journal.json');
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const since = (): number => Math.round(performance.now() - started);
    const result: Partial<ObservedRun> = {};
    const watchers: fs.FSWatcher[] = [];
    const timers: NodeJS.Timeout[] = [];
    let journalSeen = false;
    let exited = false;
    const child = spawn(process.execPath, [cli, ...args, '--collection', dir], {
      cwd: dir,
      env: cliEnv({ ...options.env, [TAG_VARIABLE]: options.tag }),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group (the CLI leads it), so a group kill reaches exactly its descendants.
      detached: options.kill?.group === true,
    });
    const kill = (): void => {
      if (exited || result.killAt !== undefined) return;
      result.killAt = since();
      if (options.kill?.group && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      } else child.kill('SIGKILL');
    };
    const onJournal = (): void => {
      const present = fs.existsSync(journal);
      if (present && !journalSeen) {
        journalSeen = true;
        result.journalAt = since();
        if (options.kill?.from === 'journal') {
          const delay = options.kill.afterMs;
          if (delay <= 0) kill();
          else timers.push(setTimeout(kill, delay));
        }
      } else if (!present && journalSeen && result.journalGoneAt === undefined) {
        result.journalGoneAt = since();
      }
    };
    try {
      watchers.push(
        fs.watch(stateDir, (_event, name) => {
          if (name === 'journal.json') onJournal();
        }),
      );
      watchers.push(
        fs.watch(dir, (_event, name) => {
          if (name === 'collection.lock') result.lockAt = since();
        }),
      );
    } catch (err) {
      child.kill('SIGKILL');
      reject(err);
      return;
    }
    if (options.kill?.from === 'start') timers.push(setTimeout(kill, options.kill.afterMs));
    if (options.kill?.from === 'journal') timers.push(setTimeout(kill, options.kill.giveUpMs));
    const timeout = setTimeout(() => {
      result.stderr = `${result.stderr ?? ''}\n[torture] timed out after ${options.timeoutMs ?? 300_000} ms`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 300_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', (err) => {
      clearTimeout(timeout);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      exited = true;
      for (const timer of timers) clearTimeout(timer);
      clearTimeout(timeout);
      // The last inotify events may still be queued: give them one turn of the loop.
      setImmediate(() => {
        for (const watcher of watchers) watcher.close();
        onJournal();
        resolve({
          code,
          signal,
          killed: signal === 'SIGKILL' && result.killAt !== undefined,
          exitAt: since(),
          stdout,
          stderr: `${stderr}${result.stderr ?? ''}`,
          ...(result.journalAt !== undefined ? { journalAt: result.journalAt } : {}),
          ...(result.lockAt !== undefined ? { lockAt: result.lockAt } : {}),
          ...(result.journalGoneAt !== undefined ? { journalGoneAt: result.journalGoneAt } : {}),
          ...(result.killAt !== undefined ? { killAt: result.killAt } : {}),
        });
      });
    });
  });
}

/** Pids of live processes whose environment carries `tag` (children a killed CLI left behind). */
export function taggedProcesses(tag: string): number[] {
  const needle = Buffer.from(`${TAG_VARIABLE}=${tag}\0`);
  const out: number[] = [];
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      // Only git and node processes can be a CLI's leftovers; nobody else's environment is read.
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || !/^(git|node)/.test(comm)) continue;
      if (fs.readFileSync(`/proc/${name}/environ`).includes(needle)) out.push(Number(name));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return out;
}

/** Waits until no process carries `tag`; after `timeoutMs` kills the rest. Returns how long it waited. */
export async function waitForTagged(
  tag: string,
  timeoutMs = 60_000,
): Promise<{ waitedMs: number; killed: number }> {
  const started = performance.now();
  for (;;) {
    const left = taggedProcesses(tag);
    if (left.length === 0) return { waitedMs: Math.round(performance.now() - started), killed: 0 };
    if (performance.now() - started > timeoutMs) {
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      return { waitedMs: Math.round(performance.now() - started), killed: left.length };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
