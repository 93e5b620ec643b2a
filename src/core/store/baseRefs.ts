/**
 * Stored bases: the upstream content of every applied update as the history of
 * `refs/upstream/<type>/<name>`, each commit's message holding the upstream's resolved sha and version as
 * JSON, so a later update has its true three-way base offline; the copies deployed into projects, as
 * `refs/deployed/<type>/<name>` keyed by content hash (the base of redeploy and pull); and the images
 * of project paths before a deploy or pull changed them (`refs/project-images/<txId>`, for `undo`).
 */
import type { Logger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import type { Clock } from '../base/time.js';
import { traceCount } from '../base/trace.js';
import { isArtifactType } from '../model/artifact.js';
import type { Tree, TreeFile } from '../model/artifactTree.js';
import { DiskFile, diskTreeFile, LARGE_FILE_BYTES } from '../model/largeFiles.js';
import { assertObjectId, assertRefName } from '../ports/git.js';
import type { Fs } from '../ports/fs.js';
import type { Git } from '../ports/git.js';
import { commitObject, ZERO_SHA } from './gitObjects.js';
import type { GitObject, GitObjects, HistoryCommit } from './gitObjects.js';
import { moveRefs } from './refFiles.js';
import type { RefMove } from './refFiles.js';
import { scanContent, scanPath, writeLargeBlobs } from './treeScan.js';
import { assertSafeRel, treeObjects, writeTrees } from './trees.js';

const UPSTREAM_REFS = 'refs/upstream/';
const DEPLOYED_REFS = 'refs/deployed/';
const PROJECT_IMAGE_REFS = 'refs/project-images/';

/**
 * Project paths as they were before a transaction: `paths` (relative to the profile root: the tracking
 * file and each artifact's copy) with their files in `tree`, and which of them did not exist.
 */
export interface ProjectImage {
  tree: Tree;
  paths: string[];
  absent: string[];
  /** Folders the transaction created on the way (relative to the project root: `.claude`, `.claude/skills`). */
  createdDirs?: string[];
}

/** How a stored tree is read (`readUpstream`): where large files go, and files already in hand. */
export interface StoredTreeReading {
  /** Names a new file for a large file, which is written there and kept on disk rather than in memory. */
  spill?: (name: string) => string;
  /**
   * A file already in hand holding exactly the blob `sha` (the stored entry at `rel`), taken instead of
   * reading the blob: an update's base mostly equals its local or its upstream side, and a 50 MB base
   * read from the store cost 0.4 s for bytes the update already had. Its mode is the stored entry's.
   */
  reuse?: (rel: string, sha: string) => TreeFile | undefined;
}

/** A copy to record as deployed. */
export interface DeployedCopy {
  type: string;
  name: string;
  content: Tree;
  meta: DeployedMeta;
}

/** The message JSON of a deployed copy: its content hash (the tracking record's), and when. */
export interface DeployedMeta {
  content_hash: string;
  time?: string;
}

/** The message JSON of an upstream commit, in SkillMeat's snake_case like the lock. */
export interface UpstreamMeta {
  resolved_sha: string;
  resolved_version?: string;
  source?: string;
  time?: string;
}

export interface UpstreamRecord {
  commit: string;
  tree: string;
  meta: UpstreamMeta;
}

/**
 * Whether `record` holds the upstream content at `sha`, from exactly `source` (the lock's `upstream`
 * string) when one is given.
 */
function holdsUpstream(record: UpstreamRecord, sha: string, source?: string): boolean {
  return record.meta.resolved_sha === sha && (source === undefined || record.meta.source === source);
}

/** The upstream refs of one repository. */
export class BaseRefs {
  constructor(
    private readonly git: Git,
    private readonly objects: GitObjects,
    private readonly fs: Fs,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /**
   * Moves refs as one `update-ref --stdin` of `update` lines would: here (`moveRefs`, no git process),
   * or through git where the files backend's rules do not plainly hold (a reftable, a lock, a ref not at
   * its expected value), so that git does it or refuses in its own words.
   */
  private async move(moves: readonly RefMove[]): Promise<void> {
    if (moves.length === 0) return;
    if ((await moveRefs(this.git.gitDir, this.fs, moves)) === 'moved') return;
    const input = moves.map(({ ref, sha, old }) => `update ${ref} ${sha} ${old ?? ZERO_SHA}\n`).join('');
    await this.git.pipe(['update-ref', '--stdin'], { input });
  }

  /**
   * Records `content` (a folder or file path, or a Tree) as the next commit of `ref`, the upstream ref of
   * `type`/`name`, in an existing repository. Storing the same tree and sha again is a no-op.
   */
  async storeUpstream(
    ref: string,
    type: string,
    name: string,
    content: string | Tree,
    meta: UpstreamMeta,
  ): Promise<UpstreamRecord> {
    return (await this.storeUpstreams([{ ref, type, name, content, meta }]))[0] as UpstreamRecord;
  }

  /**
   * `storeUpstream` for several artifacts, their refs moved together (`move`; one `update-ref` each
   * made an `update --all` of 20 changed artifacts start 20 git processes).
   */
  async storeUpstreams(
    items: readonly { ref: string; type: string; name: string; content: string | Tree; meta: UpstreamMeta }[],
  ): Promise<UpstreamRecord[]> {
    const records: UpstreamRecord[] = [];
    /** Each ref's newest record so far in this call (a ref given twice chains), and its value before. */
    const heads = new Map<string, UpstreamRecord | undefined>();
    const before = new Map<string, string | undefined>();
    for (const { ref, type, name, content, meta } of items) {
      const state =
        typeof content === 'string'
          ? await scanPath(this.objects, content)
          : scanContent(content, await writeLargeBlobs(this.objects, content));
      if (!heads.has(ref)) {
        const head = await this.findUpstream(ref);
        heads.set(ref, head);
        before.set(ref, head?.commit);
      }
      const previous = heads.get(ref);
      const fullMeta: UpstreamMeta = { ...meta, time: meta.time ?? this.clock.now().toISOString() };
      const message = `upstream ${type}/${name} ${meta.resolved_version ?? meta.resolved_sha}\n\n${JSON.stringify(fullMeta)}\n`;
      let commit: GitObject | undefined;
      const { root } = await writeTrees(this.objects, state, undefined, (tree) => {
        if (previous && previous.tree === tree && previous.meta.resolved_sha === meta.resolved_sha) return [];
        commit = commitObject(
          tree,
          previous?.commit,
          message,
          new Date(fullMeta.time ?? this.clock.now().getTime()),
        );
        return [commit];
      });
      if (!commit) {
        records.push(previous as UpstreamRecord);
        continue;
      }
      const record = { commit: commit.sha, tree: root, meta: fullMeta };
      heads.set(ref, record);
      records.push(record);
    }
    // One move per moved ref (git refuses two for the same ref), from its value before this call.
    await this.move(
      [...heads].flatMap(([ref, head]) =>
        head && head.commit !== before.get(ref) ? [{ ref, sha: head.commit, old: before.get(ref) }] : [],
      ),
    );
    return records;
  }

  /**
   * The stored upstream content of an artifact at `resolvedSha` (or the newest stored one), or undefined
   * when none was stored. With `source`, only content stored from that exact source (the lock's
   * `upstream` string, which names the subpath) counts. Paths are relative to the artifact (a single
   * file: its upstream file name).
   */
  async readUpstream(
    type: string,
    name: string,
    resolvedSha?: string,
    reading: StoredTreeReading = {},
    source?: string,
  ): Promise<Tree | undefined> {
    const record = await this.findUpstream(upstreamRef(type, name), resolvedSha, source);
    if (!record) return undefined;
    return this.readStoredTree(record.tree, reading);
  }

  /** Every upstream stored under `ref`, newest first. */
  async upstreamHistory(ref: string): Promise<UpstreamRecord[]> {
    const history: UpstreamRecord[] = [];
    for await (const record of this.upstreamRecords(ref)) history.push(record);
    return history;
  }

  /**
   * Records the copies of artifacts as deployed into a project (the true base of the next redeploy and
   * pull, DESIGN §10), each keyed by its content hash in `refs/deployed/<type>/<name>`; a copy whose hash
   * is already there is skipped. The refs' histories are read through the store's `cat-file`, the objects
   * written as one batch, the refs moved together (`move`): no git process but a pack's, for many objects.
   */
  async storeDeployed(copies: readonly DeployedCopy[]): Promise<void> {
    if (copies.length === 0) return;
    /**
     * Each copy's ref: its head, and which of the copies' content hashes its history holds (read from the
     * newest end until every one is found: a redeploy finds its copy at the head).
     */
    const heads = new Map<string, string>();
    const stored = new Set<string>();
    const sought = new Map<string, Set<string>>();
    for (const copy of copies) {
      const ref = deployedRef(copy.type, copy.name);
      sought.set(ref, (sought.get(ref) ?? new Set()).add(copy.meta.content_hash));
    }
    for (const [ref, hashes] of sought) {
      for await (const { commit, message } of this.objects.walkHistory(ref)) {
        if (!heads.has(ref)) heads.set(ref, commit);
        const hash = contentHashOf(message);
        if (hash === undefined || !hashes.delete(hash)) continue;
        stored.add(`${ref}\0${hash}`);
        if (hashes.size === 0) break;
      }
    }
    const objects: GitObject[] = [];
    /** One move per ref, from its value before this call: two copies of one artifact chain. */
    const moves = new Map<string, RefMove>();
    const now = this.clock.now();
    for (const copy of copies) {
      const title = `deployed ${copy.type}/${copy.name}`;
      const ref = deployedRef(copy.type, copy.name);
      const key = `${ref}\0${copy.meta.content_hash}`;
      if (stored.has(key)) continue;
      stored.add(key);
      const parent = heads.get(ref);
      const meta = { ...copy.meta, time: copy.meta.time ?? now.toISOString() };
      let commit: GitObject | undefined;
      const written = await writeLargeBlobs(this.objects, copy.content);
      const built = treeObjects(scanContent(copy.content, written), undefined, (tree) => {
        commit = commitObject(tree, parent, `${title}\n\n${JSON.stringify(meta)}\n`, now);
        return [commit];
      });
      objects.push(...built.objects);
      const sha = (commit as GitObject).sha;
      const first = moves.get(ref);
      moves.set(ref, { ref, sha, old: first ? first.old : parent });
      heads.set(ref, sha);
    }
    if (moves.size === 0) return;
    const unique = new Map(objects.map((o) => [o.sha, o]));
    await this.objects.writeObjects([...unique.values()]);
    await this.move([...moves.values()]);
  }

  /** The copy of an artifact deployed with `contentHash`, or undefined when none was stored. */
  async readDeployed(
    type: string,
    name: string,
    contentHash: string,
    reading?: StoredTreeReading,
  ): Promise<Tree | undefined> {
    let record: { tree: string } | undefined;
    for await (const r of this.records(deployedRef(type, name)))
      if (r.meta.content_hash === contentHash) {
        record = r;
        break;
      }
    return record ? this.readStoredTree(record.tree, reading) : undefined;
  }

  /**
   * Stores the project paths a transaction changes as they were before it (`content`: paths relative to
   * the profile root; `absent`: those that did not exist), as `refs/project-images/<txId>`: what `undo`
   * puts back. Returns the commit.
   */
  async storeProjectImage(txId: string, image: ProjectImage): Promise<string> {
    const ref = assertRefName(`${PROJECT_IMAGE_REFS}${txId}`);
    const written = await writeLargeBlobs(this.objects, image.tree);
    return this.storeCommit(ref, undefined, `project image ${txId}`, scanContent(image.tree, written), {
      paths: image.paths,
      absent: image.absent,
      createdDirs: image.createdDirs ?? [],
      time: this.clock.now().toISOString(),
    });
  }

  /** A project image: its files (profile-root-relative) and the paths that were absent. */
  async readProjectImage(commit: string): Promise<ProjectImage> {
    const out = await this.git.run(['log', '-1', '--no-color', '--format=%T%x1f%B', commit]);
    const [tree, body] = out.split('\x1f');
    const meta = JSON.parse(body?.slice(body.indexOf('\n\n') + 2) ?? '{}') as Partial<ProjectImage>;
    return {
      tree: await this.readStoredTree((tree ?? '').trim()),
      paths: meta.paths ?? [],
      absent: meta.absent ?? [],
      createdDirs: meta.createdDirs ?? [],
    };
  }

  /**
   * The files and symlinks of a stored tree, read through the store's one `cat-file --batch` (an
   * artifact's few folders: no `ls-tree` process of its own). Paths are checked as every stored path is.
   * With `spill`, a file of LARGE_FILE_BYTES or more is written to the new file it names (the caller
   * removes it) and kept on disk, as `readTree` keeps a large file; with `reuse`, a blob the caller
   * already holds is not read at all.
   */
  private async readStoredTree(treeSha: string, reading: StoredTreeReading = {}): Promise<Tree> {
    const out: Tree = new Map();
    const walk = async (tree: string, prefix: string): Promise<void> => {
      for (const [name, entry] of await this.objects.readTreeEntries(tree)) {
        const rel = `${prefix}${name}`;
        assertSafeRel(rel, `tree ${treeSha}`);
        if (entry.mode === '040000') await walk(entry.sha, `${rel}/`);
        else if (entry.mode === '100644' || entry.mode === '100755' || entry.mode === '120000') {
          const mode = entry.mode === '120000' ? 0o120000 : entry.mode === '100755' ? 0o755 : 0o644;
          out.set(rel, await this.readStoredFile(rel, entry.sha, mode, reading));
        } else this.logger.warn(`[Snapshots] tree ${treeSha}: skipping ${rel} (${entry.mode})`);
      }
    };
    await walk(assertObjectId(treeSha), '');
    return out;
  }

  /**
   * One stored file (blob `sha`, at `rel` of what is read): taken from `reuse` when the caller holds it,
   * else read, into a file of `spill` when it is LARGE_FILE_BYTES or more.
   */
  async readStoredFile(
    rel: string,
    sha: string,
    mode: number,
    { spill, reuse }: StoredTreeReading = {},
  ): Promise<TreeFile> {
    const held = reuse?.(rel, sha);
    if (held) {
      traceCount('stored file already in hand');
      return held.disk ? diskTreeFile(held.disk, mode) : { data: held.data, mode };
    }
    traceCount('stored file read');
    if (spill === undefined || mode === 0o120000) return { data: await this.objects.readBlob(sha), mode };
    const file = (): string => spill(`blob-${sha}`);
    const read = await this.objects.readBlobSpilling(sha, { over: LARGE_FILE_BYTES - 1, file });
    if (Buffer.isBuffer(read)) return { data: read, mode };
    traceCount('stored file spilled to disk');
    return diskTreeFile(new DiskFile(read.file, read.size, sha), mode);
  }

  private async storeCommit(
    ref: string,
    parent: string | undefined,
    title: string,
    state: ReturnType<typeof scanContent>,
    meta: object,
  ): Promise<string> {
    let commit: GitObject | undefined;
    await writeTrees(this.objects, state, undefined, (tree) => {
      commit = commitObject(tree, parent, `${title}\n\n${JSON.stringify(meta)}\n`, this.clock.now());
      return [commit];
    });
    const sha = (commit as GitObject).sha;
    await this.move([{ ref, sha, old: parent }]);
    return sha;
  }

  /**
   * The commits of `ref` that carry metadata, newest first, read only as far as the caller goes (or of
   * `commits`, some of `ref`'s found another way).
   */
  private async *records(
    ref: string,
    commits: AsyncIterable<HistoryCommit> | Iterable<HistoryCommit> = this.objects.walkHistory(ref),
  ): AsyncGenerator<{ commit: string; tree: string; meta: Record<string, unknown> }> {
    for await (const { commit, tree, message } of commits) {
      let meta: unknown;
      try {
        meta = messageMeta(message);
      } catch {
        this.logger.warn(`[Snapshots] ${ref}: commit ${commit} has no metadata`);
        continue;
      }
      if (typeof meta === 'object' && meta !== null)
        yield { commit, tree, meta: meta as Record<string, unknown> };
    }
  }

  /** The upstream records of `ref` (or among `commits`), newest first, read only as far as the caller goes. */
  private async *upstreamRecords(
    ref: string,
    commits?: Iterable<HistoryCommit>,
  ): AsyncGenerator<UpstreamRecord> {
    for await (const { commit, tree, meta } of this.records(ref, commits))
      if (typeof meta.resolved_sha === 'string')
        yield { commit, tree, meta: meta as unknown as UpstreamMeta };
  }

  /**
   * The newest upstream record of `ref` holding `sha` (from exactly `source`, when given; any sha when
   * `sha` is undefined): the history is read from its newest end until one is found.
   */
  async findUpstream(ref: string, sha?: string, source?: string): Promise<UpstreamRecord | undefined> {
    let read = 0;
    for await (const record of this.upstreamRecords(ref)) {
      if (sha === undefined || holdsUpstream(record, sha, source)) return record;
      // Not among the newest: git searches the rest of the history (a sha never stored, the usual case
      // of an update to a new commit, would otherwise read every commit the artifact's updates made).
      if (++read === READ_BEFORE_SEARCH) return this.searchUpstream(ref, sha, source);
    }
    return undefined;
  }

  /** `findUpstream` of a sha through `git log --grep`: the commits whose metadata names it, checked. */
  private async searchUpstream(
    ref: string,
    sha: string,
    source?: string,
  ): Promise<UpstreamRecord | undefined> {
    const mentioning = await this.objects.commitsMentioning(ref, sha);
    for await (const record of this.upstreamRecords(ref, mentioning))
      if (holdsUpstream(record, sha, source)) return record;
    return undefined;
  }
}

/**
 * Upstream records `findUpstream` reads through `cat-file` before it asks git to search the rest: a round
 * trip costs about 0.15 ms and a `git log` 5–7 ms here, so a history is searched once it is longer than
 * about 32 updates of its artifact.
 */
const READ_BEFORE_SEARCH = 32;

/** `refs/deployed/<type>/<name>`, the name encoded as in `upstreamRef`. */
export function deployedRef(type: string, name: string): string {
  return assertRefName(upstreamRef(type, name).replace(UPSTREAM_REFS, DEPLOYED_REFS));
}

/**
 * `refs/upstream/<type>/<name>`; the name is percent-encoded outside [A-Za-z0-9_-] so any artifact name
 * (spaces, dots, unicode) makes a valid, unambiguous ref.
 */
export function upstreamRef(type: string, name: string): string {
  if (!isArtifactType(type))
    throw new CoreError({
      code: 'artifact-name-invalid',
      name: `${type}/${name}`,
      reason: `unknown type "${type}"`,
    });
  if (name.length === 0) throw new CoreError({ code: 'artifact-name-invalid', name, reason: 'empty name' });
  const encoded = Array.from(Buffer.from(name, 'utf8'), (byte) => {
    const ch = String.fromCharCode(byte);
    return /[A-Za-z0-9_-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
  return assertRefName(`${UPSTREAM_REFS}${type}/${encoded}`);
}

/** The JSON after the title of one of our commit messages (`<title>\n\n<JSON>`); throws when it is not JSON. */
function messageMeta(message: string): unknown {
  return JSON.parse(message.slice(message.indexOf('\n\n') + 2)) as unknown;
}

/** The `content_hash` of a deployed copy's commit message, if it has one. */
function contentHashOf(message: string): string | undefined {
  try {
    const meta = messageMeta(message) as { content_hash?: unknown } | null;
    return typeof meta?.content_hash === 'string' ? meta.content_hash : undefined;
  } catch {
    return undefined; // not one of ours
  }
}
