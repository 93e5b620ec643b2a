/**
 * Upstream sources, with IO: resolve a source's ref to a commit with `git ls-remote` (no clone), and fetch
 * only that commit's artifact (shallow, blob-less where the server allows, then only the subpath's blobs)
 * into a temp workspace. Invariants: every temp workspace is removed on every error path, an unreachable
 * upstream is an error (never "up to date"), and no user string reaches git in option position.
 * Content is checked entry by entry before anything is checked out or copied (validate.ts entryProblem):
 * a tree no file system can hold, a gitlink, a FIFO or a device is refused, never half written.
 *
 * Git runs through child_process rather than simple-git: upstream access needs the user's environment
 * (askpass, ssh command, EDITOR) passed through, which simple-git refuses to run with, and cancellation
 * must kill git's whole process group and wait for it before the temp folder is removed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { artifactId } from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import { STATE_DIR, silentLogger } from '../base/changes.js';
import type { Logger } from '../base/changes.js';
import { throwIfAborted } from '../base/abort.js';
import { CoreError, ioFailure } from '../base/errors.js';
import { parseLsTree } from '../ports/git.js';
import { OWNER_ENV, ownerMark } from '../ports/processes.js';
import { makeWorkspace } from '../ports/tempSpace.js';
import { entryProblem } from '../model/validate.js';
import type { EntryKind } from '../model/validate.js';
import {
  DEFAULT_REF,
  assertSafeSource,
  displaySource,
  parseSourceSpec,
  redactCredentials,
  versionFromRef,
} from './sourceSpec.js';
import type { FolderSource, PathKind, RemoteSource, Source } from './sourceSpec.js';

export {
  deriveName,
  displaySource,
  formatSource,
  sourceFromUpstream,
  upstreamString,
  versionFromRef,
} from './sourceSpec.js';
export type { FolderSource, GitSource, GithubSource, RemoteSource, Source } from './sourceSpec.js';

export interface ResolvedSource {
  /** Full 40-hex commit id. */
  sha: string;
  /** What the version spec matched: `refs/tags/v1`, `refs/heads/main`, the default branch for
   *  `latest` (or `HEAD` when the remote does not name it), or the sha itself. */
  ref: string;
  /** The version spec as asked (`latest` when none was given): what the manifest keeps as version_spec. */
  versionSpec: string;
  /** SkillMeat's heuristic: the spec when it starts with `v` or contains `.`. */
  resolvedVersion?: string;
}

export interface FetchedSource {
  /** Absolute path of the fetched artifact: a folder, or a single file. */
  root: string;
  isFile: boolean;
  /** The commit fetched; undefined for a local folder. */
  sha?: string;
  resolvedVersion?: string;
  /** Where the content sat in its source (the git subpath, or the local absolute path), for `inferType`. */
  sourcePath: string;
  /** The temp folder holding everything; `dispose` removes it. */
  workspace: string;
  /** Removes the workspace; safe to call twice. */
  dispose(): Promise<void>;
}

export interface SourceOptions {
  signal?: AbortSignal;
  logger?: Logger;
}

export interface ResolveOptions extends SourceOptions {
  /** Where a short sha that the remote does not advertise is looked up (default os.tmpdir()). */
  workDir?: string;
}

export interface FetchOptions extends SourceOptions {
  /**
   * Parent of the temp workspace: `<collection>/.artifact-keeper/tmp/<pid>` (same file system) or
   * os.tmpdir(). Created on demand; the folders created for it go again with the workspace.
   */
  workDir: string;
  /**
   * The artifact the content is for, named in a refusal (`skill/pdf`); without a type, the type is
   * inferred from the listing as inferType would. Without it a refusal names the source.
   */
  artifact?: { name: string; type?: ArtifactType | undefined };
}

/** Parses a SOURCE as typed by a person (see sourceSpec.ts); relative paths resolve against `cwd`. */
export function parseSource(text: string, options: { cwd?: string } = {}): Source {
  return parseSourceSpec(text, { cwd: options.cwd ?? process.cwd(), home: os.homedir(), probe: probePath });
}

/** A local git repository (work tree with `.git`, or bare: HEAD + objects + refs), folder, file, or nothing. */
export function probePath(absolutePath: string): PathKind {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolutePath);
  } catch {
    return 'missing';
  }
  if (stat.isFile()) return 'file';
  if (!stat.isDirectory()) return 'missing';
  if (fs.existsSync(path.join(absolutePath, '.git'))) return 'git';
  const isFile = (name: string): boolean =>
    fs.statSync(path.join(absolutePath, name), { throwIfNoEntry: false })?.isFile() ?? false;
  const isDir = (name: string): boolean =>
    fs.statSync(path.join(absolutePath, name), { throwIfNoEntry: false })?.isDirectory() ?? false;
  return isFile('HEAD') && isDir('objects') && isDir('refs') ? 'git' : 'folder';
}

/**
 * Resolves the source's version spec to a commit, in SkillMeat's order: `latest` (any case) → the default
 * branch's head; 7–40 hex → that commit; a tag (annotated tags peeled); a branch. A full `refs/…` name
 * matches exactly. A hex spec the remote does not advertise is looked for by fetching commits only.
 * Does IO (git). Throws CoreError `upstream-unreachable`, `source-invalid` (ref not found), `cancelled`,
 * `git-missing`.
 */
export async function resolveSource(
  source: RemoteSource,
  options: ResolveOptions = {},
): Promise<ResolvedSource> {
  assertSafeSource(source);
  const logger = options.logger ?? silentLogger;
  const ctx: RunContext = { signal: options.signal, logger };
  const started = Date.now();
  const listing = await listRemote(source, ctx);
  const spec = source.ref;
  const result = (sha: string, ref: string): ResolvedSource => {
    const resolved: ResolvedSource = { sha, ref, versionSpec: spec };
    const version = versionFromRef(spec);
    if (version !== undefined) resolved.resolvedVersion = version;
    logger.debug(
      `[Sources] resolved ${displaySource(source)} to ${sha} (${ref}) in ${Date.now() - started} ms`,
    );
    return resolved;
  };
  const notFound = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: displaySource(source), reason });

  if (spec.toLowerCase() === DEFAULT_REF) {
    const head = listing.refs.get('HEAD');
    if (!head) throw notFound('ref not found: the upstream has no default branch (HEAD)');
    return result(head, listing.headTarget ?? 'HEAD');
  }
  if (/^[0-9a-fA-F]{7,40}$/.test(spec)) {
    const wanted = spec.toLowerCase();
    // An annotated tag's object id counts too, and stands for the commit it points to.
    const commitOf = new Map<string, string>();
    for (const [name, sha] of listing.refs) commitOf.set(sha, listing.peeled.get(name) ?? sha);
    for (const sha of listing.peeled.values()) commitOf.set(sha, sha);
    const matches = new Set(
      [...commitOf].filter(([advertised]) => advertised.startsWith(wanted)).map(([, commit]) => commit),
    );
    if (matches.size > 1) throw notFound(`the short sha "${spec}" is ambiguous`);
    const [only] = matches;
    if (only) return result(only, only);
    // Not a tip: a tag or branch that happens to look like hex wins over a history search.
    const named = findNamedRef(listing, spec);
    if (named) return result(named.sha, named.ref);
    const sha = await findCommit(source, wanted, { ...ctx, workDir: options.workDir ?? os.tmpdir() });
    if (!sha) throw notFound(`ref not found: no commit "${spec}" upstream`);
    return result(sha, sha);
  }
  const named = findNamedRef(listing, spec);
  if (!named) throw notFound(`ref not found: "${spec}" is neither a tag nor a branch upstream`);
  return result(named.sha, named.ref);
}

/**
 * Fetches the content of `source` at `resolved.sha` (or copies a local folder) into a new temp workspace
 * under `options.workDir`, and checks the subpath exists. Only one commit is fetched, without tags; when
 * the server supports partial clone, only the subpath's blobs are downloaded. Executable bits are kept and
 * symlinks stay symlinks; bytes are checked out raw (no eol conversion, no filters).
 * Does IO. Throws CoreError `upstream-unreachable`, `upstream-invalid` (path or commit missing),
 * `cancelled`, `io-failed`, `git-failed`; the workspace is gone whenever it throws.
 */
export function fetchSource(
  source: RemoteSource,
  resolved: ResolvedSource,
  options: FetchOptions,
): Promise<FetchedSource>;
export function fetchSource(
  source: FolderSource,
  resolved: undefined,
  options: FetchOptions,
): Promise<FetchedSource>;
export function fetchSource(
  source: Source,
  resolved: ResolvedSource | undefined,
  options: FetchOptions,
): Promise<FetchedSource>;
export async function fetchSource(
  source: Source,
  resolved: ResolvedSource | undefined,
  options: FetchOptions,
): Promise<FetchedSource> {
  assertSafeSource(source);
  const logger = options.logger ?? silentLogger;
  const ctx: RunContext = { signal: options.signal, logger };
  throwIfAborted(options.signal);
  if (source.kind !== 'folder' && !resolved) {
    throw new CoreError({
      code: 'source-invalid',
      source: displaySource(source),
      reason: 'it must be resolved before it is fetched',
    });
  }
  if (resolved && !FULL_SHA.test(resolved.sha)) {
    throw new CoreError({
      code: 'source-invalid',
      source: displaySource(source),
      reason: `"${resolved.sha}" is not a full commit id`,
    });
  }
  // A local folder is checked entry by entry before anything is created, against a content folder as
  // long as the one it will be copied to (mkdtemp adds six characters).
  const local =
    source.kind === 'folder'
      ? await inspectLocal(
          source,
          path.join(path.resolve(options.workDir), 'fetch-XXXXXX', 'content'),
          options,
        )
      : undefined;
  const created = await makeWorkspace(options.workDir, 'fetch-');
  const workspace = created.path;
  const dispose = (): Promise<void> => created.remove();
  const started = Date.now();
  try {
    const content =
      source.kind === 'folder'
        ? await copyLocal(source, local as LocalInspection, workspace, ctx)
        : await fetchGit(source, resolved as ResolvedSource, workspace, options.artifact, ctx);
    throwIfAborted(options.signal);
    logger.debug(
      `[Sources] fetched ${displaySource(source)} into ${workspace} in ${Date.now() - started} ms`,
    );
    const fetched: FetchedSource = { ...content, workspace, dispose };
    if (resolved?.resolvedVersion !== undefined) fetched.resolvedVersion = resolved.resolvedVersion;
    return fetched;
  } catch (err) {
    try {
      await dispose();
    } catch (cleanupErr) {
      logger.warn(`[Sources] could not remove ${workspace}: ${String(cleanupErr)}`);
    }
    throw err;
  }
}

/**
 * The artifact type of fetched content when `--type` is absent: a folder with SKILL.md (or skill.md) is a
 * skill; a `.md` file is an agent when its source path has an `agents` folder, else a command.
 * Throws CoreError `source-invalid` asking for --type otherwise.
 */
export function inferType(fetched: Pick<FetchedSource, 'root' | 'isFile' | 'sourcePath'>): ArtifactType {
  const type = typeOfShape({
    isFile: fetched.isFile,
    fileName: path.basename(fetched.root),
    hasFile: (name) =>
      fs.statSync(path.join(fetched.root, name), { throwIfNoEntry: false })?.isFile() ?? false,
    sourcePath: fetched.sourcePath,
  });
  if (type) return type;
  throw new CoreError({
    code: 'source-invalid',
    source: fetched.sourcePath || '.',
    reason: `cannot tell the artifact type (${fetched.isFile ? 'not a .md file' : 'a folder without SKILL.md'}); pass --type`,
  });
}

/** What inferType looks at, so that a listing (before checkout) and a checked-out folder agree. */
interface Shape {
  isFile: boolean;
  fileName: string;
  /** Whether the folder holds this regular file at its top. */
  hasFile(name: string): boolean;
  sourcePath: string;
}

function typeOfShape(shape: Shape): ArtifactType | undefined {
  if (!shape.isFile)
    return ['SKILL.md', 'skill.md'].some((name) => shape.hasFile(name)) ? 'skill' : undefined;
  if (!shape.fileName.toLowerCase().endsWith('.md')) return undefined;
  const folders = shape.sourcePath.split(/[/\\]/).slice(0, -1);
  return folders.includes('agents') ? 'agent' : 'command';
}

/** Who a refusal names: the artifact's id when its type is given or can be inferred, else the source. */
function contentLabel(source: Source, artifact: FetchOptions['artifact'], shape: Shape | undefined): string {
  const type = artifact?.type ?? (shape ? typeOfShape(shape) : undefined);
  if (artifact && type) return artifactId({ name: artifact.name, type });
  return source.kind === 'folder' ? source.path : displaySource(source);
}

// ---------------------------------------------------------------------------------------------------------
// Fetch

const FULL_SHA = /^[0-9a-f]{40}$/;

/** Stderr of a server that will not hand out an unadvertised commit (protocol v0, uploadpack settings). */
const NOT_SERVED =
  /not our ref|unadvertised object|couldn't find remote ref|no such remote ref|did not send all necessary objects|remote error: upload-pack/i;

type FetchedContent = Omit<FetchedSource, 'workspace' | 'dispose' | 'resolvedVersion'>;

async function fetchGit(
  source: RemoteSource,
  resolved: ResolvedSource,
  workspace: string,
  artifact: FetchOptions['artifact'],
  ctx: RunContext,
): Promise<FetchedContent> {
  const into = (mode: 'partial' | 'whole'): Promise<FetchedContent> =>
    fetchGitInto(source, resolved.sha, resolved.ref, workspace, mode, artifact, ctx);
  try {
    return await into('partial');
  } catch (err) {
    if (!(err instanceof BlobsRefused)) throw err;
    // A server that honours filters but will not hand out blobs by id (protocol v0): start again with
    // whole commits, in a fresh repository, since git would not fetch objects it believes it has.
    ctx.logger.debug(
      `[Sources] ${displaySource(source)} refused the blobs of a partial fetch; fetching whole commits`,
    );
    try {
      await fsp.rm(path.join(workspace, 'git'), { recursive: true, force: true });
      await fsp.rm(path.join(workspace, 'content'), { recursive: true, force: true });
    } catch (rmErr) {
      throw ioFailure('remove', workspace, rmErr);
    }
    return await into('whole');
  }
}

/** Thrown by a partial fetch whose blobs the server will not serve on demand; fetchGit retries whole. */
class BlobsRefused extends Error {}

async function fetchGitInto(
  source: RemoteSource,
  sha: string,
  resolvedRef: string | undefined,
  workspace: string,
  mode: 'partial' | 'whole',
  artifact: FetchOptions['artifact'],
  ctx: RunContext,
): Promise<FetchedContent> {
  const repo = await initWorkspaceRepo(source, path.join(workspace, 'git'), mode === 'partial', ctx);
  const shown = displaySource(source);
  const invalid = (reason: string, shape?: Shape): CoreError =>
    new CoreError({ code: 'upstream-invalid', artifact: contentLabel(source, artifact, shape), reason });
  const filter = mode === 'partial' ? ['--filter=blob:none'] : [];

  // 1. The commit alone (protocol v2 servers serve any reachable commit); blobs are left for step 4.
  let fetch = await repo.git(['fetch', ...FETCH_FLAGS, '--depth=1', ...filter, '--', 'origin', sha]);
  if (
    fetch.code !== 0 &&
    NOT_SERVED.test(fetch.stderr) &&
    resolvedRef &&
    /^(HEAD|refs\/[^\s]+)$/.test(resolvedRef)
  ) {
    // 2. The ref it was resolved from, when it still points there.
    ctx.logger.debug(`[Sources] ${shown} refused commit ${sha}; fetching ${resolvedRef} instead`);
    fetch = await repo.git(['fetch', ...FETCH_FLAGS, '--depth=1', ...filter, '--', 'origin', resolvedRef]);
    if (fetch.code === 0 && !(await repo.hasCommit(sha))) {
      fetch = { ...fetch, code: 1, stderr: 'not our ref (the ref moved)' };
    }
  }
  if (fetch.code !== 0 && NOT_SERVED.test(fetch.stderr)) {
    // 3. Every branch and tag, and look for the commit in their history.
    ctx.logger.debug(`[Sources] fetching the full history of ${shown} to find ${sha}`);
    const unshallow = fs.existsSync(path.join(repo.gitDir, 'shallow')) ? ['--unshallow'] : [];
    fetch = await repo.git(['fetch', ...FETCH_FLAGS, ...unshallow, ...filter, '--', 'origin', ...ALL_REFS]);
    if (fetch.code === 0 && !(await repo.hasCommit(sha))) {
      throw invalid(`commit ${sha} is no longer available upstream`);
    }
  }
  if (fetch.code !== 0) throw unreachable(source, fetch);

  // 4. Find the subpath in the commit's tree and check out just that: a tree with read-tree -u, which
  // fetches the missing blobs in one batch; a file through a one-entry index.
  const subpath = source.subpath;
  const contentDir = path.join(workspace, 'content');
  await fsp.mkdir(contentDir).catch((err: unknown) => {
    throw ioFailure('mkdir', contentDir, err);
  });
  let entry: TreeEntry | undefined;
  if (subpath === '') {
    const tree = await repo.git(['rev-parse', '--verify', '--quiet', `${sha}^{tree}`]);
    if (tree.code !== 0) throw invalid(`commit ${sha} has no tree`);
    entry = { mode: '040000', type: 'tree', oid: tree.stdout.trim(), path: '', rawPath: Buffer.alloc(0) };
  } else {
    const listing = await repo.git(['ls-tree', '-z', '--full-tree', sha, '--', subpath]);
    if (listing.code !== 0) throw gitFailed('ls-tree', listing);
    entry = parseTreeEntries(listing.stdoutBytes).find((e) => e.path === subpath);
  }
  if (!entry) throw invalid(`path "${subpath}" not found at ${sha}`);
  const checkOut = async (args: string[]): Promise<void> => {
    const run = await repo.git(args, contentDir);
    if (run.code === 0) return;
    if (mode === 'partial' && NOT_SERVED.test(run.stderr)) throw new BlobsRefused(gitReason(run));
    throw failedCheckout(source, run);
  };
  if (entry.type === 'tree') {
    // Every entry is checked before git writes a byte: a name or path no file system takes would fail the
    // checkout half way, and leave a tree deeper than PATH_MAX behind.
    const listing = await repo.git(['ls-tree', '-r', '-z', '--full-tree', entry.oid]);
    if (listing.code !== 0) throw gitFailed('ls-tree', listing);
    const entries = parseTreeEntries(listing.stdoutBytes);
    const topFiles = new Set(
      entries.filter((e) => !e.path.includes('/') && kindOfMode(e.mode) === 'file').map((e) => e.path),
    );
    const shape: Shape = {
      isFile: false,
      fileName: path.posix.basename(subpath),
      hasFile: (name) => topFiles.has(name),
      sourcePath: subpath,
    };
    for (const e of entries) {
      const problem = entryProblem(e.rawPath, kindOfMode(e.mode), contentDir);
      if (problem) throw invalid(problem, shape);
    }
    await checkOut(['read-tree', '--reset', '-u', entry.oid]);
    return { root: contentDir, isFile: false, sha, sourcePath: subpath };
  }
  if (entry.mode === '120000')
    throw invalid(`path "${subpath}" at ${sha} is a symbolic link, not an artifact`);
  if (entry.type !== 'blob') throw invalid(`path "${subpath}" at ${sha} is a submodule, not an artifact`);
  const base = path.posix.basename(subpath);
  const fileShape: Shape = { isFile: true, fileName: base, hasFile: () => false, sourcePath: subpath };
  const fileProblem = entryProblem(base, kindOfMode(entry.mode), contentDir);
  if (fileProblem) throw invalid(fileProblem, fileShape);
  const add = await repo.git(
    ['update-index', '--add', '--cacheinfo', `${entry.mode},${entry.oid},${base}`],
    contentDir,
  );
  if (add.code !== 0) throw gitFailed('update-index', add);
  await checkOut(['checkout-index', '--all']);
  return { root: path.join(contentDir, base), isFile: true, sha, sourcePath: subpath };
}

const FETCH_FLAGS = ['--quiet', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head'];
const ALL_REFS = ['+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'];

interface WorkspaceRepo {
  gitDir: string;
  git(args: readonly string[], workTree?: string): Promise<GitRun>;
  hasCommit(sha: string): Promise<boolean>;
}

/**
 * A bare repository with `origin` = the upstream; when `promisor`, marked as a partial clone so a blob-less
 * fetch is legal and missing blobs are fetched on demand. No templates (so no hooks), and attributes that
 * switch off every conversion, so the checked-out bytes are exactly the blobs.
 */
async function initWorkspaceRepo(
  source: RemoteSource,
  gitDir: string,
  promisor: boolean,
  ctx: RunContext,
): Promise<WorkspaceRepo> {
  // Everything git writes here is inside the workspace, so a write it could not make is our disk's fault.
  const workspace = path.dirname(gitDir);
  const spaceChecked = (args: readonly string[], run: GitRun): GitRun => {
    if (run.code !== 0 && isOutOfSpace(run, workspace)) {
      ctx.logger.debug(`[Sources] git ${args[0] ?? ''} ran out of space: ${gitReason(run)}`);
      throw noSpace(args[0] ?? 'git', workspace, run);
    }
    return run;
  };
  const init = spaceChecked(
    ['init'],
    await runGit([`--git-dir=${gitDir}`, 'init', '--quiet', '--bare', '--template='], ctx),
  );
  if (init.code !== 0) throw gitFailed('init', init);
  const attributes = path.join(gitDir, 'info', 'attributes');
  try {
    await fsp.mkdir(path.dirname(attributes), { recursive: true });
    await fsp.writeFile(attributes, '* -text -filter -ident -working-tree-encoding\n');
  } catch (err) {
    throw ioFailure('write', attributes, err);
  }
  const git = async (args: readonly string[], workTree?: string): Promise<GitRun> =>
    spaceChecked(
      args,
      await runGit([`--git-dir=${gitDir}`, ...(workTree ? [`--work-tree=${workTree}`] : []), ...args], {
        ...ctx,
        cwd: workTree,
      }),
    );
  // Written directly rather than with one `git config` process per key: four fewer processes per fetch.
  // The url has no control characters (assertSafeSource); quoting makes `#`, `;` and spaces literal.
  const quoted = `"${source.url.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = [`[remote "origin"]`, `\turl = ${quoted}`];
  if (isLocalTransport(source.url)) lines.push(`\tuploadpack = "${LOCAL_UPLOAD_PACK}"`);
  if (promisor) {
    lines.push('\tpromisor = true', '\tpartialclonefilter = blob:none');
    lines.push('[core]', '\trepositoryformatversion = 1', '[extensions]', '\tpartialClone = origin');
  }
  const config = path.join(gitDir, 'config');
  await fsp.appendFile(config, `${lines.join('\n')}\n`).catch((err: unknown) => {
    throw ioFailure('write', config, err);
  });
  return {
    gitDir,
    git,
    async hasCommit(sha) {
      return (await git(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`])).code === 0;
    },
  };
}

/**
 * For a repository on this machine we start the serving side ourselves, so we can let it do what GitHub
 * does: honour blob filters and hand out any reachable commit. Measured on a 1,000-skill repository
 * (26 MB): fetching one skill takes 0.1 s this way instead of 2.3 s for a whole shallow commit.
 */
const LOCAL_UPLOAD_PACK =
  'git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack';

function isLocalTransport(url: string): boolean {
  return path.isAbsolute(url) || /^file:\/\//i.test(url);
}

interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  path: string;
  /** The path's bytes as git stores them (not necessarily UTF-8). */
  rawPath: Buffer;
}

/** `ls-tree -z` records, the path kept as raw bytes too. */
function parseTreeEntries(output: Buffer): TreeEntry[] {
  return parseLsTree(output).map(({ mode, type, oid, path: bytes }) => {
    const rawPath = Buffer.from(bytes);
    return { mode, type, oid, path: rawPath.toString('utf8'), rawPath };
  });
}

/** git's modes as entry kinds (trees do not appear in a recursive listing). */
function kindOfMode(mode: string): EntryKind {
  switch (mode) {
    case '100644':
    case '100755':
      return 'file';
    case '120000':
      return 'symlink';
    case '040000':
      return 'folder';
    case '160000':
      return 'submodule (gitlink)';
    default:
      return 'special file';
  }
}

/** A local source as inspected before the copy. */
interface LocalInspection {
  stat: fs.Stats;
}

/** Names a local folder's copy leaves out: its repository, and our state folder (temp workspaces). */
const SKIPPED_LOCAL = new Set(['.git', STATE_DIR]);

/**
 * Looks at a local source before anything is written: it must exist, and every entry of a folder (walked
 * with lstat, links never followed) must pass entryProblem when copied under `contentDir`, so a FIFO
 * (which would block the copy), a device or a socket is refused by name instead of copied.
 */
async function inspectLocal(
  source: FolderSource,
  contentDir: string,
  options: FetchOptions,
): Promise<LocalInspection> {
  const stat = await fsp.stat(source.path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
      throw new CoreError(
        { code: 'upstream-unreachable', source: source.path, reason: 'no such file or folder' },
        { cause: err },
      );
    }
    throw ioFailure('stat', source.path, err);
  });
  throwIfAborted(options.signal);
  const fileName = path.basename(source.path);
  const shape: Shape = { isFile: stat.isFile(), fileName, hasFile: () => false, sourcePath: source.path };
  const refuse = (problem: string): CoreError =>
    new CoreError({
      code: 'upstream-invalid',
      artifact: contentLabel(source, options.artifact, shape),
      reason: problem,
    });
  if (stat.isFile()) {
    const problem = entryProblem(fileName, 'file', contentDir);
    if (problem) throw refuse(problem);
    return { stat };
  }
  if (!stat.isDirectory()) throw refuse(`"${source.path}" is not a file or folder`);
  const topFiles = new Set<string>();
  shape.hasFile = (name) => topFiles.has(name);
  const visit = async (dir: string, rel: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENAMETOOLONG')
        throw refuse(`the folder "${rel || source.path}" is too deep to read`);
      throw ioFailure('read', dir, err);
    }
    throwIfAborted(options.signal);
    const kept = entries.filter((entry) => !SKIPPED_LOCAL.has(entry.name));
    if (rel === '') for (const entry of kept) if (entry.isFile()) topFiles.add(entry.name);
    const folders: string[] = [];
    for (const entry of kept) {
      const kind = kindOfDirent(entry);
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const problem = entryProblem(childRel, kind, contentDir);
      if (problem) throw refuse(problem);
      if (kind === 'folder') folders.push(entry.name);
    }
    for (const name of folders) await visit(path.join(dir, name), rel === '' ? name : `${rel}/${name}`);
  };
  await visit(source.path, '');
  return { stat };
}

function kindOfDirent(entry: fs.Dirent): EntryKind {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'folder';
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFIFO()) return 'FIFO';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice()) return 'character device';
  if (entry.isBlockDevice()) return 'block device';
  return 'special file';
}

/** Copies an inspected local folder (without `.git` and our state folder) or a single file into the workspace. */
async function copyLocal(
  source: FolderSource,
  inspected: LocalInspection,
  workspace: string,
  ctx: RunContext,
): Promise<FetchedContent> {
  throwIfAborted(ctx.signal);
  const contentDir = path.join(workspace, 'content');
  try {
    if (inspected.stat.isFile()) {
      await fsp.mkdir(contentDir);
      const target = path.join(contentDir, path.basename(source.path));
      await fsp.copyFile(source.path, target);
      await fsp.chmod(target, inspected.stat.mode & 0o777);
      return { root: target, isFile: true, sourcePath: source.path };
    }
    await fsp.cp(source.path, contentDir, {
      recursive: true,
      verbatimSymlinks: true,
      errorOnExist: true,
      force: false,
      // The workspace may live inside the source (adding a collection's own folder); never copy it into itself.
      filter: (from) => !SKIPPED_LOCAL.has(path.basename(from)) && from !== workspace,
    });
  } catch (err) {
    throw ioFailure(`copy ${source.path} to`, contentDir, err);
  }
  return { root: contentDir, isFile: false, sourcePath: source.path };
}

// ---------------------------------------------------------------------------------------------------------
// Resolve

interface RemoteListing {
  /** ref name (and `HEAD`) → sha as advertised; for an annotated tag that is the tag object. */
  refs: Map<string, string>;
  /** ref name → the commit an annotated tag points to (the `^{}` lines). */
  peeled: Map<string, string>;
  /** The branch HEAD points to, when the remote says (`ref: refs/heads/main	HEAD`). */
  headTarget?: string;
}

async function listRemote(source: RemoteSource, ctx: RunContext): Promise<RemoteListing> {
  const run = await runGit(['ls-remote', '--symref', '--', source.url], ctx);
  if (run.code !== 0) throw unreachable(source, run);
  const listing: RemoteListing = { refs: new Map(), peeled: new Map() };
  for (const line of run.stdout.split('\n')) {
    const symref = /^ref: (\S+)\tHEAD$/.exec(line);
    if (symref) {
      listing.headTarget = symref[1];
      continue;
    }
    const match = /^([0-9a-f]{40})\t(\S+)$/.exec(line);
    if (!match) continue;
    const [, sha = '', name = ''] = match;
    if (name.endsWith('^{}')) listing.peeled.set(name.slice(0, -3), sha);
    else listing.refs.set(name, sha);
  }
  return listing;
}

/** A full `refs/…` name exactly, else `refs/tags/<spec>` (peeled), else `refs/heads/<spec>`. */
function findNamedRef(listing: RemoteListing, spec: string): { sha: string; ref: string } | undefined {
  const candidates = spec.startsWith('refs/') ? [spec] : [`refs/tags/${spec}`, `refs/heads/${spec}`];
  for (const ref of candidates) {
    const sha = listing.peeled.get(ref) ?? listing.refs.get(ref);
    if (sha) return { sha, ref };
  }
  return undefined;
}

/**
 * Looks for a commit the remote does not advertise: a full sha by fetching it alone (v2 servers allow
 * that), otherwise, or for a short sha, by fetching every branch's and tag's commits (no trees or blobs
 * where the server supports filters) and asking rev-parse. Returns the full sha, or undefined.
 */
async function findCommit(
  source: RemoteSource,
  wanted: string,
  ctx: RunContext & { workDir: string },
): Promise<string | undefined> {
  const created = await makeWorkspace(ctx.workDir, 'resolve-');
  const workspace = created.path;
  try {
    const repo = await initWorkspaceRepo(source, path.join(workspace, 'git'), true, ctx);
    if (FULL_SHA.test(wanted)) {
      const single = await repo.git([
        'fetch',
        ...FETCH_FLAGS,
        '--depth=1',
        '--filter=tree:0',
        '--',
        'origin',
        wanted,
      ]);
      if (single.code === 0) return (await repo.hasCommit(wanted)) ? wanted : undefined;
      if (!NOT_SERVED.test(single.stderr)) throw unreachable(source, single);
    }
    const all = await repo.git(['fetch', ...FETCH_FLAGS, '--filter=tree:0', '--', 'origin', ...ALL_REFS]);
    if (all.code !== 0) throw unreachable(source, all);
    const parsed = await repo.git(['rev-parse', '--verify', '--quiet', `${wanted}^{commit}`]);
    const sha = parsed.stdout.trim();
    return parsed.code === 0 && FULL_SHA.test(sha) ? sha : undefined;
  } finally {
    await created.remove().catch((err: unknown) => {
      ctx.logger.warn(`[Sources] could not remove ${workspace}: ${String(err)}`);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running git

interface RunContext {
  signal?: AbortSignal | undefined;
  logger: Logger;
  cwd?: string | undefined;
}

interface GitRun {
  code: number;
  stdout: string;
  /** stdout as bytes, for paths that need not be UTF-8. */
  stdoutBytes: Buffer;
  stderr: string;
}

/** Config for every upstream git process: no code from the user's config runs, no bytes are rewritten. */
const UPSTREAM_CONFIG = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.autocrlf=false',
  'core.symlinks=true',
  'gc.auto=0',
  'maintenance.auto=false',
  'fetch.recurseSubmodules=false',
  'protocol.ext.allow=never',
];

/** Variables a calling git (a hook) may have set that would point our commands at another repository. */
const REPOSITORY_ENV = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
  'GIT_QUARANTINE_PATH',
  'GIT_SHALLOW_FILE',
  'GIT_CEILING_DIRECTORIES',
];

/**
 * The user's environment (credentials, proxies, ssh setup keep working) minus repository redirections,
 * plus: only the file/git/http(s)/ssh transports (no ext::, fd::), no terminal prompts, literal pathspecs,
 * and C-locale messages (we match on them).
 */
function upstreamEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of REPOSITORY_ENV) delete env[key];
  env.GIT_ALLOW_PROTOCOL = 'file:git:http:https:ssh';
  env.GIT_PROTOCOL_FROM_USER = '0';
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_LITERAL_PATHSPECS = '1';
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  // So that a killed writer's git children can be found and stopped before its lock passes on.
  env[OWNER_ENV] = ownerMark();
  return env;
}

/** A repository that does not exist, for commands that need none (ls-remote): stops repository discovery. */
const NO_REPOSITORY = path.join(os.tmpdir(), 'artifact-keeper-no-repository', 'none.git');

/** Time a killed git gets to clean up after SIGTERM before it is SIGKILLed. */
const KILL_GRACE_MS = 2000;

/**
 * Runs git and resolves with its exit code and output (a failing exit code is not an exception here).
 * On abort the process is terminated and the promise rejects with CoreError `cancelled` only after it has
 * exited, so the caller can remove its folders safely.
 */
function runGit(args: readonly string[], ctx: RunContext): Promise<GitRun> {
  throwIfAborted(ctx.signal);
  const fullArgs = [...UPSTREAM_CONFIG.flatMap((c) => ['-c', c]), ...args];
  const env = upstreamEnv();
  // Without a repository of ours, git would look for one around its working folder and read its config
  // (a collection that is itself a git work tree, or any repository above the temp folder).
  if (!args.some((arg) => arg.startsWith('--git-dir='))) env.GIT_DIR = NO_REPOSITORY;
  ctx.logger.trace(`[Sources] git ${redactCredentials(args.join(' '))}`);
  return new Promise<GitRun>((resolve, reject) => {
    const child = spawn('git', fullArgs, {
      cwd: ctx.cwd ?? os.tmpdir(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      detached: OWN_PROCESS_GROUP,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      aborted = true;
      killTree(child, 'SIGTERM');
      killTimer = setTimeout(() => killTree(child, 'SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    // The signal may have fired between the check above and the spawn (a logger callback can abort).
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, signalName) => {
      ctx.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (aborted) {
        reject(new CoreError({ code: 'cancelled' }));
        return;
      }
      if (spawnError) {
        const errno = (spawnError as NodeJS.ErrnoException).code;
        reject(
          errno === 'ENOENT'
            ? new CoreError(
                { code: 'git-missing', reason: 'no git executable on PATH' },
                { cause: spawnError },
              )
            : new CoreError(
                { code: 'git-failed', command: args[0] ?? 'git', reason: spawnError.message },
                { cause: spawnError },
              ),
        );
        return;
      }
      const stdoutBytes = Buffer.concat(stdout);
      resolve({
        code: code ?? (signalName ? 128 : 1),
        stdout: stdoutBytes.toString('utf8'),
        stdoutBytes,
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

/**
 * On POSIX each git runs in its own process group, so a cancel reaches the processes git starts itself
 * (upload-pack, pack-objects, index-pack, the lazy blob fetch); killing git alone left them running for
 * seconds, holding its pipes open. The price: a terminal's Ctrl-C no longer reaches git directly, so the
 * CLI turns SIGINT into an abort.
 */
const OWN_PROCESS_GROUP = process.platform !== 'win32';

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (OWN_PROCESS_GROUP && child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // Already gone.
  }
}

/** The most telling line of git's stderr: the first `fatal:`/`error:` line that is not boilerplate. */
function gitReason(run: GitRun): string {
  const lines = run.stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !BOILERPLATE.test(line));
  const at = Math.max(
    0,
    lines.findIndex((line) => /^(fatal|error):/.test(line)),
  );
  let telling = lines[at];
  // "fatal: unable to connect to host:" puts the cause on the next line.
  if (telling?.endsWith(':') && lines[at + 1] !== undefined) telling = `${telling} ${lines[at + 1]}`;
  const reason = telling ? telling.replace(/^(fatal|error):\s*/, '') : `git exited with code ${run.code}`;
  return redactCredentials(reason);
}

/** git's generic advice after a failed connection; the line before it (ssh's, the path's) says more. */
const BOILERPLATE =
  /^(fatal: )?Could not read from remote repository\.$|^Please make sure you have the correct access rights$|^and the repository exists\.$/;

function unreachable(source: RemoteSource, run: GitRun): CoreError {
  return new CoreError({
    code: 'upstream-unreachable',
    source: displaySource(source),
    reason: gitReason(run),
  });
}

/** A checkout that fails while fetching missing blobs means the upstream went away; anything else is local. */
function failedCheckout(source: RemoteSource, run: GitRun): CoreError {
  if (/promisor|could not fetch|unable to read|does not appear to be a git repository/i.test(run.stderr)) {
    return unreachable(source, run);
  }
  return gitFailed('checkout', run);
}

function gitFailed(command: string, run: GitRun): CoreError {
  return new CoreError({ code: 'git-failed', command, reason: gitReason(run) });
}

/** git's own words for a full disk or quota (index-pack says "Out of diskspace"). */
const NO_SPACE = /no space left on device|out of diskspace|disk quota exceeded/i;

/** A local write that failed without saying why ("unable to write file X", "failed to write new config"). */
const LOCAL_WRITE =
  /unable to write|failed to write|could not write|write error|short write|unable to create|cannot create|could not create|fsync/i;

/** Below this much free space, a write git could not make is taken to have run out of room. */
const NEARLY_FULL_BYTES = 1024 * 1024;

/**
 * Whether a failed git command ran out of space in our workspace. We decided on two tests. git's own
 * words first ("No space left on device", index-pack's "Out of diskspace", "Disk quota exceeded"), from
 * lines that are not the server's (`remote:` lines are about the upstream's disk). Many of git's writes
 * fail with a bare "unable to write file X" or "failed to write new configuration file" though, so for
 * a failed local write we then ask the file system: git removes its temp files when it gives up, so the
 * free space seen afterwards is what the write had to work with, and under 1 MiB (or no free inodes)
 * we call it a full disk. A failure that names no local write is never blamed on the disk, so an
 * upstream that is unreachable or vanishes mid-transfer is still reported as such (exit 69).
 */
function isOutOfSpace(run: GitRun, workspace: string): boolean {
  const ours = run.stderr
    .split('\n')
    .filter((line) => !/^\s*(remote:|fatal: remote error)/i.test(line))
    .join('\n');
  if (NO_SPACE.test(ours)) return true;
  if (!LOCAL_WRITE.test(ours)) return false;
  try {
    const stats = fs.statfsSync(workspace);
    return stats.bavail * stats.bsize < NEARLY_FULL_BYTES || (stats.files > 0 && stats.ffree === 0);
  } catch {
    return false;
  }
}

function noSpace(command: string, workspace: string, run: GitRun): CoreError {
  const quota = /disk quota exceeded/i.test(run.stderr);
  return new CoreError({
    code: 'io-failed',
    op: `git ${command} in`,
    path: workspace,
    errno: quota ? 'EDQUOT' : 'ENOSPC',
    reason: quota ? 'disk quota exceeded' : 'no space left on device',
  });
}
