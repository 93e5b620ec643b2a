/**
 * `add`: a new artifact from a git source or a local folder, through a transaction (files, manifest and
 * lock together), with its upstream tree stored as the base for later three-way merges. Everything the
 * user typed is checked before anything is fetched, and a refused or failed fetch leaves no trace.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  artifactId,
  assertValidName,
  defaultPath,
  isArtifactType,
  LAYOUT,
  pathProblem,
} from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import { ancestors, changesForArtifact, readTree, resultHash } from '../model/artifactTree.js';
import { lfsWarning } from '../model/lfsPointers.js';
import { collectionWrites, loadCollectionCaching, preflightCollection } from '../model/collection.js';
import { throwIfAborted } from '../base/abort.js';
import { CoreError } from '../base/errors.js';
import { addArtifact, findEntry } from '../model/manifest.js';
import { setEntry } from '../model/lock.js';
import type { OperationOptions } from './operations.js';
import type { Tree } from './plan.js';
import { clockOf, storeOptions, transactionOptions, writerOptions } from './operations.js';
import { openSnapshotStore } from '../store/snapshots.js';
import { applyRetention } from './retention.js';
import {
  deriveName,
  fetchSource,
  inferType,
  parseSource,
  resolveSource,
  upstreamString,
} from '../sources/sources.js';
import type { FetchedSource, ResolvedSource } from '../sources/sources.js';
import { naiveUtcNow } from '../base/time.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import { approveFindings, artifactFindings } from '../exec/approval.js';
import { releaseTmpDir, sweepStaleTemp, tmpDir } from '../ports/tempSpace.js';
import { validateArtifact } from '../model/validate.js';

export interface AddOptions {
  type?: string;
  name?: string;
  /** Where relative local paths in SOURCE are resolved (default: the current folder). */
  cwd?: string;
}

export interface AddResult {
  id: string;
  path: string;
  sha?: string;
  version?: string;
  txId: string;
  /** What a person should know (upstream files that are git LFS pointers). */
  warnings?: string[];
}

export async function addFromSource(
  collectionDir: string,
  sourceText: string,
  options: AddOptions,
  opts: OperationOptions,
): Promise<AddResult> {
  const dir = path.resolve(collectionDir);
  // A malformed collection is refused before anything is fetched or created; with the journal of an
  // interrupted transaction present, the manifest may be mid-rename: the writer lock recovers it first.
  await preflightCollection(dir, opts.fs);
  if (options.type !== undefined && !isArtifactType(options.type)) {
    throw new CoreError({
      code: 'source-invalid',
      source: sourceText,
      reason: `unknown type "${options.type}"`,
    });
  }
  const source = parseSource(sourceText, { cwd: options.cwd ?? process.cwd() });
  const name = options.name ?? deriveName(source);
  assertValidName(name);
  const givenType = options.type as ArtifactType | undefined;
  sweepStaleTemp(dir);
  const fetchOptions = {
    workDir: tmpDir(dir),
    signal: opts.signal,
    logger: opts.logger,
    faults: opts.faults,
    artifact: { name, type: givenType },
  };
  let resolved: ResolvedSource | undefined;
  let fetched: FetchedSource | undefined;
  try {
    if (source.kind === 'folder') fetched = await fetchSource(source, undefined, fetchOptions);
    else {
      resolved = await resolveSource(source, fetchOptions);
      fetched = await fetchSource(source, resolved, fetchOptions);
    }
    const type = givenType ?? inferType(fetched);
    const isFolder = !fetched.isFile;
    if ((LAYOUT[type].shape === 'dir') !== isFolder) {
      throw new CoreError({
        code: 'upstream-invalid',
        artifact: `${type}/${name}`,
        reason: `a ${type} must be a ${LAYOUT[type].shape === 'dir' ? 'folder' : 'single file'}`,
      });
    }
    const relPath = defaultPath({ name, type });
    const id = artifactId({ name, type });
    // A name that is legal on its own may still make a path no manifest may hold (`<255 bytes>.md`).
    const unusable = pathProblem(relPath);
    if (unusable)
      throw new CoreError({ code: 'artifact-path-invalid', artifact: id, path: relPath, reason: unusable });
    const read = readTree(fetched.root, isFolder).tree;
    const tree: Tree = isFolder
      ? read
      : new Map([...read.values()].slice(0, 1).map((f) => [path.basename(relPath), f]));
    const installRoot = path.join(dir, isFolder ? relPath : path.dirname(relPath));
    const problems = validateArtifact(type, tree, isFolder, installRoot);
    if (problems.length > 0)
      throw new CoreError({ code: 'validation-failed', artifact: id, reason: problems.join('; ') });
    const lfs = lfsWarning(id, tree);
    if (lfs) opts.logger.warn(`[Add] ${lfs}`);
    throwIfAborted(opts.signal);

    return await withWriter(dir, writerOptions(opts, 'add'), async () => {
      const collection = await loadCollectionCaching(dir, opts.fs);
      if (findEntry(collection.manifest, { name, type }))
        throw new CoreError({ code: 'artifact-exists', artifact: id });
      if (fs.existsSync(path.join(dir, relPath))) {
        throw new CoreError({
          code: 'artifact-path-invalid',
          artifact: id,
          path: relPath,
          reason: 'already exists on disk',
        });
      }
      const missing = [...ancestors(relPath), ...(isFolder ? [relPath] : [])].filter(
        (rel) => !fs.existsSync(path.join(dir, rel)),
      );
      const changes = changesForArtifact(relPath, isFolder, new Map(), tree, [], missing);
      // Anything that runs needs its yes first (DESIGN §11): nothing is written without it.
      const findings = artifactFindings(id, relPath, isFolder, new Map(), tree);
      const approval = await approveFindings(dir, findings, opts.exec, opts.fs, clockOf(opts).now());
      const now = naiveUtcNow(clockOf(opts).now());
      const upstream =
        source.kind === 'folder' || !resolved ? undefined : upstreamString(source, resolved.sha);
      const version = resolved?.resolvedVersion;
      addArtifact(
        collection.manifest,
        { name, type },
        {
          path: relPath,
          // SkillMeat knows only local | github | marketplace: a non-GitHub git upstream is tracked by us
          // through `upstream`, while SkillMeat treats the artifact as local instead of misreading the URL.
          origin: source.kind === 'github' ? 'github' : 'local',
          added: now,
          upstream,
          version_spec: resolved?.versionSpec,
          resolved_sha: resolved?.sha,
          resolved_version: version,
        },
      );
      setEntry(
        collection.lock,
        { name, type },
        {
          content_hash: resultHash(tree, isFolder),
          fetched: now,
          upstream,
          resolved_sha: resolved?.sha,
          resolved_version: version,
        },
      );
      changes.push(...collectionWrites(collection, now));
      const store = await openSnapshotStore(dir, storeOptions(opts));
      try {
        const pre = await store.create({ reason: `before adding ${id}`, trigger: 'add', artifacts: [id] });
        if (resolved && upstream) {
          await store.storeUpstream(type, name, tree, {
            resolved_sha: resolved.sha,
            ...(version ? { resolved_version: version } : {}),
            source: upstream,
          });
        }
        const txId = newTxId(clockOf(opts).now().getTime());
        await applyChanges(
          dir,
          {
            txId,
            kind: 'add',
            description: `add ${id}`,
            artifacts: [id],
            preSnapshot: pre.id,
            changes,
            tool: opts.tool,
            ...(approval ? { approvals: [approval] } : {}),
          },
          transactionOptions(opts),
        );
        await applyRetention(store, opts, [pre.id]);
        return {
          id,
          path: relPath,
          ...(resolved ? { sha: resolved.sha } : {}),
          ...(version ? { version } : {}),
          txId,
          ...(lfs ? { warnings: [lfs] } : {}),
        };
      } finally {
        store.close();
      }
    });
  } finally {
    await fetched?.dispose();
    releaseTmpDir(dir);
  }
}
