/**
 * Upstream sources, with IO: the facade the operations use. `resolveSource` turns a version spec into a
 * commit with `git ls-remote` (resolve.ts); `fetchSource` fetches only that commit's artifact (gitFetch.ts)
 * or copies a local folder (localFolder.ts) into a temp workspace it owns. Invariants: every temp workspace
 * is removed on every error path, an unreachable upstream is an error (never "up to date"), no user string
 * reaches git in option position, and content is checked entry by entry before anything is checked out or
 * copied (upstreamTree.ts, localFolder.ts). Every git process goes through the git port (upstreamGit.ts).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import { makeWorkspace } from '../ports/tempSpace.js';
import type { ArtifactHint, FetchedContent } from './contentShape.js';
import { fetchGit } from './gitFetch.js';
import { copyLocal, inspectLocal, probePath } from './localFolder.js';
import type { LocalInspection } from './localFolder.js';
import type { ResolvedSource } from './resolve.js';
import { assertSafeSource, displaySource, parseSourceSpec } from './sourceSpec.js';
import type { FolderSource, RemoteSource, Source } from './sourceSpec.js';
import { throwIfAborted } from '../base/abort.js';
import { runContext } from './upstreamGit.js';
import type { SourceOptions } from './upstreamGit.js';
import { FULL_SHA } from './workspaceRepo.js';

export {
  deriveName,
  displaySource,
  formatSource,
  sourceFromUpstream,
  upstreamString,
  versionFromRef,
} from './sourceSpec.js';
export type { FolderSource, GitSource, GithubSource, RemoteSource, Source } from './sourceSpec.js';
export { inferType } from './contentShape.js';
export { probePath } from './localFolder.js';
export { resolveSource } from './resolve.js';
export type { ResolveOptions, ResolvedSource } from './resolve.js';
export type { SourceOptions } from './upstreamGit.js';
export { upstreamBatch } from './upstreamBatch.js';
export type { UpstreamBatch } from './upstreamBatch.js';

export interface FetchedSource extends FetchedContent {
  resolvedVersion?: string;
  /** The temp folder holding everything; `dispose` removes it. */
  workspace: string;
  /** Removes the workspace; safe to call twice. */
  dispose(): Promise<void>;
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
  artifact?: ArtifactHint;
}

/** Parses a SOURCE as typed by a person (see sourceSpec.ts); relative paths resolve against `cwd`. */
export function parseSource(text: string, options: { cwd?: string } = {}): Source {
  return parseSourceSpec(text, { cwd: options.cwd ?? process.cwd(), home: os.homedir(), probe: probePath });
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
  const ctx = runContext(options, logger);
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
        ? await copyLocal(source, local as LocalInspection, workspace, options.signal)
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
