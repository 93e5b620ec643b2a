/**
 * Which snapshots exist: `refs/snapshots/<id>` (and `refs/pins/<id>` for pinned ones), each a root commit
 * whose message carries the snapshot's metadata as JSON after a summary line. Ids, that metadata, the
 * refs and their order live here; the trees the commits point at are built elsewhere.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { assertObjectId, assertRefName } from '../ports/git.js';
import type { Git } from '../ports/git.js';
import type { Fs } from '../ports/fs.js';
import { commitObject } from './gitObjects.js';
import { createRefs, deleteRefs, packedRefNames, refNamesUnder } from './refFiles.js';
import type { GitObject, GitObjects } from './gitObjects.js';

const SNAPSHOT_REFS = 'refs/snapshots/';
const PIN_REFS = 'refs/pins/';
const SNAPSHOT_ID = /^s[0-9a-z]{9,}$/;

export type SnapshotTrigger =
  | 'user'
  | 'update'
  | 'restore'
  | 'add'
  | 'remove'
  | 'import'
  | 'recover'
  // Forward compatible: a newer tool's trigger still reads.
  | (string & {});

/**
 * A safety snapshot: the state just before a restore (or an undo, which is a restore), taken so that it can
 * itself be undone. It is never "latest", so `restore latest` run twice restores the same snapshot.
 */
export function isSafetySnapshot(info: Pick<SnapshotInfo, 'trigger'>): boolean {
  return info.trigger === 'restore';
}

/** Where an imported snapshot came from. */
export interface SnapshotOrigin {
  kind: 'export' | 'skillmeat';
  /** The id in the source (our snapshot id, or SkillMeat's timestamp id). */
  id: string;
  /** The source archive's file name. */
  file: string;
  /** SkillMeat's collection name, for SkillMeat imports. */
  collection?: string;
}

export interface SnapshotInfo {
  /** `s` + 9 base36 digits of epoch milliseconds + 3 random base36: short, unique, sorts by time. */
  id: string;
  commit: string;
  tree: string;
  reason: string;
  trigger: SnapshotTrigger;
  /** `type/name` ids of the artifacts the operation that took it was about to touch. */
  artifacts: string[];
  /** ISO-8601 UTC. */
  time: string;
  /** Current state (the `refs/pins/<id>` ref), not the value at creation time. */
  pinned: boolean;
  /** `artifact-keeper <version>` that took it. */
  tool: string;
  txId?: string;
  origin?: SnapshotOrigin;
}

export interface CreateSnapshotOptions {
  reason: string;
  trigger: SnapshotTrigger;
  artifacts?: readonly string[];
  pinned?: boolean;
  txId?: string;
}

export interface SnapshotMeta {
  id: string;
  reason: string;
  trigger: string;
  artifacts: string[];
  time: string;
  tool: string;
  pinned: boolean;
  txId?: string;
  origin?: SnapshotOrigin;
}

/** The snapshot refs of one repository. */
export class SnapshotRefs {
  constructor(
    private readonly git: Git,
    private readonly objects: GitObjects,
    private readonly fs: Fs,
    private readonly logger: Logger,
    /** Recorded in every snapshot, e.g. `artifact-keeper 0.1.0`. */
    private readonly tool: string,
  ) {}

  /**
   * The newest snapshot id, read from the refs on disk (loose and packed; a sync read, as drawing an id
   * is): ids are never drawn below it.
   */
  newestId(): string | undefined {
    const gitDir = this.git.gitDir;
    let newest: string | undefined;
    const consider = (id: string): void => {
      if (SEQUENCE.test(id) && (newest === undefined || id > newest)) newest = id;
    };
    try {
      for (const name of fs.readdirSync(path.join(gitDir, SNAPSHOT_REFS))) consider(name);
    } catch {
      // No loose snapshot refs yet.
    }
    for (const name of packedRefNames(gitDir))
      if (name.startsWith(SNAPSHOT_REFS)) consider(name.slice(SNAPSHOT_REFS.length));
    return newest;
  }

  /**
   * All snapshots, newest first: the ref names read from the refs folder and `packed-refs`, their commits
   * from the store's `cat-file --batch` (a `for-each-ref` process cost 20–30 ms of every update's
   * retention). A repository in a reftable, or a ref under `refs/snapshots/` not named as ours, is
   * listed by git, as before.
   */
  async list(): Promise<SnapshotInfo[]> {
    const names = refNamesUnder(this.git.gitDir, [SNAPSHOT_REFS, PIN_REFS]);
    const refs = [...(names ?? [])].filter((name) => name.startsWith(SNAPSHOT_REFS));
    if (!names || refs.some((ref) => !SNAPSHOT_ID.test(ref.slice(SNAPSHOT_REFS.length))))
      return this.listByGit();
    const pinned = new Set(
      [...names].filter((name) => name.startsWith(PIN_REFS)).map((name) => name.slice(PIN_REFS.length)),
    );
    const commits = await this.objects.readRefCommits(refs);
    const snapshots: SnapshotInfo[] = [];
    refs.forEach((ref, i) => {
      const read = commits[i];
      if (read) this.addListed(snapshots, ref, read.commit, read.tree, read.message);
      // As for-each-ref warns of a ref it cannot read ("does not point to a valid object").
      else this.logger.warn(`[Snapshots] ignoring ${ref}: it does not point at a commit in the store`);
    });
    for (const info of snapshots) info.pinned = pinned.has(info.id);
    return snapshots.sort(newestFirst);
  }

  private async listByGit(): Promise<SnapshotInfo[]> {
    const out = await this.git.run([
      'for-each-ref',
      '--format=%(refname)%00%(objectname)%00%(tree)%00%(contents)%00%00',
      SNAPSHOT_REFS,
      PIN_REFS,
    ]);
    const pinned = new Set<string>();
    const snapshots: SnapshotInfo[] = [];
    for (const record of out.split('\0\0\n')) {
      const [refname, commit, tree, contents] = record.replace(/^\n/, '').split('\0');
      if (!refname || !commit) continue;
      if (refname.startsWith(PIN_REFS)) {
        pinned.add(refname.slice(PIN_REFS.length));
        continue;
      }
      this.addListed(snapshots, refname, commit, tree ?? '', contents ?? '');
    }
    for (const info of snapshots) info.pinned = pinned.has(info.id);
    return snapshots.sort(newestFirst);
  }

  /** Adds the snapshot `ref` names to `into`, or warns when its commit does not carry our metadata. */
  private addListed(into: SnapshotInfo[], ref: string, commit: string, tree: string, message: string): void {
    const id = ref.slice(SNAPSHOT_REFS.length);
    const meta = parseSnapshotMessage(message);
    if (!meta || meta.id !== id || !tree) {
      this.logger.warn(`[Snapshots] ignoring ${ref}: its commit message is not snapshot metadata`);
      return;
    }
    into.push(toInfo(meta, commit, tree));
  }

  /**
   * The metadata and commit object of a new snapshot of `tree` (an id is drawn here). A snapshot taken now
   * gets an id above every other (creation order); one imported from history (`taken: 'then'`, with
   * its own old time) sorts by that time, below what was taken since.
   */
  prepareSnapshot(
    tree: string,
    fields: Omit<SnapshotMeta, 'id' | 'time' | 'tool'>,
    time: Date,
    taken: 'now' | 'then' = 'now',
  ): { meta: SnapshotMeta; commit: GitObject } {
    const meta: SnapshotMeta = {
      id: newSnapshotId(time, taken === 'now' ? this.newestId() : undefined),
      time: time.toISOString(),
      tool: this.tool,
      ...fields,
    };
    // Each snapshot is a root commit. Chaining it to the previous one would keep every pruned snapshot
    // reachable through its successors, and `gc` could then never free anything: retention wins.
    const commit = commitObject(tree, undefined, `${summaryLine(meta)}\n\n${JSON.stringify(meta)}\n`, time);
    return { meta, commit };
  }

  /**
   * Creates the snapshot's ref (and pin) for a written commit, here (`createRefs`), or through
   * `update-ref` where refs live in a reftable; a clash of ids draws a new one.
   */
  async publishSnapshot(
    prepared: { meta: SnapshotMeta; commit: GitObject },
    tree: string,
  ): Promise<SnapshotInfo> {
    for (let attempt = 0; ; attempt++) {
      const { meta, commit } = prepared;
      const refs = [assertRefName(`${SNAPSHOT_REFS}${meta.id}`)];
      if (meta.pinned) refs.push(assertRefName(`${PIN_REFS}${meta.id}`));
      // Both refuse an existing ref: two snapshots in the same millisecond with the same suffix.
      let created = await createRefs(this.git.gitDir, this.fs, refs, commit.sha);
      let reason = 'the ref exists';
      if (created === 'unsupported') {
        const input = refs.map((ref) => `create ${ref} ${commit.sha}\n`).join('');
        const result = await this.git.pipe(['update-ref', '--stdin'], { input, okExitCodes: [0, 128] });
        created = result.exitCode === 0 ? 'created' : 'exists';
        reason = result.stderr.split('\n', 1)[0] ?? '';
      }
      if (created === 'created') return toInfo(meta, commit.sha, tree);
      if (attempt >= 3) throw new CoreError({ code: 'git-failed', command: 'update-ref', reason });
      const { id: _id, time, tool: _tool, ...fields } = meta;
      prepared = this.prepareSnapshot(tree, fields, new Date(time));
      await this.objects.writeObjects([prepared.commit]);
    }
  }

  /** Pins (never pruned) or unpins a snapshot; stored as the ref `refs/pins/<id>`. */
  async setPinned(info: SnapshotInfo, pinned: boolean): Promise<void> {
    const ref = assertRefName(`${PIN_REFS}${info.id}`);
    // Through pipe: update-ref prints nothing, and `run` then waits 50 ms more (see Git.run).
    if (pinned) await this.git.pipe(['update-ref', ref, assertObjectId(info.commit)]);
    else await this.git.pipe(['update-ref', '-d', ref]);
  }

  /**
   * Deletes the refs of snapshots (retention never passes a pinned one), each only if it still points at
   * the listed commit: here (`deleteRefs`, no git process), or through one `update-ref` where git's
   * files-backend rules do not plainly hold.
   */
  async deleteSnapshots(doomed: readonly SnapshotInfo[]): Promise<void> {
    const deletions = doomed.map((s) => ({
      ref: assertRefName(`${SNAPSHOT_REFS}${s.id}`),
      old: assertObjectId(s.commit),
    }));
    if ((await deleteRefs(this.git.gitDir, this.fs, deletions)) === 'deleted') return;
    const input = deletions.map(({ ref, old }) => `delete ${ref} ${old}\n`).join('');
    await this.git.pipe(['update-ref', '--stdin'], { input });
  }
}

/** Creation order, newest first: ids are drawn in increasing order (`newSnapshotId`), whatever the clock did. */
function newestFirst(a: SnapshotInfo, b: SnapshotInfo): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * `s` + 9 base36 digits + 3 random base36 digits. The 9 digits are the clock's epoch ms, but never less
 * than one past the newest id in the store: ids then sort in creation order even when the clock jumps
 * backwards (NTP, a VM resumed, a wrong laptop clock) or is pinned, so "latest" and retention stay right
 * (DESIGN §4). The snapshot's `time` stays the clock's, for people.
 */
export function newSnapshotId(time: Date = new Date(), newest?: string): string {
  const random = Array.from(randomBytes(3), (b) => (b % 36).toString(36)).join('');
  const floor = newest && SEQUENCE.test(newest) ? Number.parseInt(newest.slice(1, 10), 36) + 1 : 0;
  return `s${Math.max(0, time.getTime(), floor).toString(36).padStart(9, '0')}${random}`;
}

const SEQUENCE = /^s[0-9a-z]{9}/;

function summaryLine(meta: SnapshotMeta): string {
  const text = `${meta.trigger}: ${meta.reason}`.replace(/\s+/g, ' ').trim();
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}

/** The JSON after the summary line, or undefined when the message is not ours. */
function parseSnapshotMessage(message: string): SnapshotMeta | undefined {
  const at = message.indexOf('\n\n');
  if (at < 0) return undefined;
  try {
    const meta = JSON.parse(message.slice(at + 2)) as Partial<SnapshotMeta>;
    if (typeof meta.id !== 'string' || !SNAPSHOT_ID.test(meta.id) || typeof meta.time !== 'string')
      return undefined;
    return {
      id: meta.id,
      reason: typeof meta.reason === 'string' ? meta.reason : '',
      trigger: typeof meta.trigger === 'string' ? meta.trigger : 'user',
      artifacts: Array.isArray(meta.artifacts)
        ? meta.artifacts.filter((a): a is string => typeof a === 'string')
        : [],
      time: meta.time,
      tool: typeof meta.tool === 'string' ? meta.tool : '',
      pinned: meta.pinned === true,
      ...(typeof meta.txId === 'string' ? { txId: meta.txId } : {}),
      ...(meta.origin && typeof meta.origin === 'object' ? { origin: meta.origin } : {}),
    };
  } catch {
    return undefined;
  }
}

function toInfo(meta: SnapshotMeta, commit: string, tree: string): SnapshotInfo {
  return {
    id: meta.id,
    commit,
    tree,
    reason: meta.reason,
    trigger: meta.trigger,
    artifacts: meta.artifacts,
    time: meta.time,
    pinned: meta.pinned,
    tool: meta.tool,
    ...(meta.txId ? { txId: meta.txId } : {}),
    ...(meta.origin ? { origin: meta.origin } : {}),
  };
}
