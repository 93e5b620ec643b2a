/**
 * Conflicts an update committed (DESIGN §5 step 6, §8), worked on from the files and the lock alone, so
 * they survive a window reload and come the same way from the CLI: each file with markers in VS Code's
 * merge editor (base / local / upstream read-only from the store, the result the real file's path under
 * `artifact-keeper-merge:`, whose writes stay a draft in memory: `mergeResult.ts`), each `<file>.upstream`
 * copy as a choice. Only our Complete Merge writes the draft to the real file; a merge editor closed any
 * other way changes nothing and its draft is dropped. When nothing is left the artifact is re-locked
 * (`resolveConflicts`); "Abort Update" puts it back as it was before the update (`abortConflicts`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  abortConflicts,
  conflictSides,
  CoreError,
  isBinary,
  loadCollection,
  mergeKeepingBase,
  remainingConflicts,
  resolveConflicts,
} from '../core/index.js';
import type { ArtifactEntry, ConflictOperationResult } from '../core/index.js';
import { isMergeTabFor } from './mergeCompletion.js';
import { hasConflictMarkers } from './prompter.js';
import type { Services } from './services.js';
import { toSnapshotUri } from './snapshotContent.js';
import type { ConflictSide } from './snapshotContent.js';
import type { CollectionModel } from './store.js';
import { shortName } from './ui.js';

const t = vscode.l10n.t;
const UPSTREAM_COPY = /\.upstream(\.\d+)?$/;

/** One artifact's walk through its conflicts, while it runs (a second request brings its editor back). */
export interface OpenMerge {
  readonly controller: AbortController;
  /** Brings the merge editor of the file being merged to the front. */
  reveal(): Promise<void>;
  readonly done: Promise<ConflictWalkOutcome>;
}

/** How a walk ended: every conflict handled and the artifact re-locked, or still conflicted. */
export interface ConflictWalkOutcome {
  id: string;
  outcome: 'resolved' | 'open' | 'cancelled';
}

/** The conflicted artifacts of a collection, from its last report. */
export function conflictedIds(collection: CollectionModel): string[] {
  return (collection.report?.artifacts ?? []).filter((a) => a.state === 'conflicted').map((a) => a.id);
}

/**
 * "Resolve Conflicts": walks each conflicted artifact named (all of the collection when none is) in turn;
 * `first` (a file relative to the artifact, "Resolve in Merge Editor" on a file row) is merged first.
 * A walk already running for an artifact is brought to the front instead of starting a second one.
 */
export async function resolveConflictsFlow(
  services: Services,
  collection: CollectionModel,
  ids: readonly string[],
  first?: string,
): Promise<ConflictWalkOutcome[]> {
  const targets = ids.length > 0 ? [...ids] : conflictedIds(collection);
  if (targets.length === 0) {
    void services.prompter.notify({
      id: 'no-conflicts',
      severity: 'info',
      message: t('{0} has no conflicts to resolve.', collection.name),
      actions: [],
    });
    return [];
  }
  const outcomes: ConflictWalkOutcome[] = [];
  for (const id of targets) {
    const outcome = await walkArtifact(services, collection, id, first);
    outcomes.push(outcome);
    if (outcome.outcome !== 'resolved') break;
  }
  return outcomes;
}

function walkArtifact(
  services: Services,
  collection: CollectionModel,
  id: string,
  first: string | undefined,
): Promise<ConflictWalkOutcome> {
  const key = `${collection.dir}\n${id}`;
  const running = services.merges.get(key);
  if (running) {
    void running.reveal();
    return running.done;
  }
  const controller = new AbortController();
  let reveal = (): Promise<void> => Promise.resolve();
  const done = walk(services, collection, id, first, controller.signal, (show) => (reveal = show)).finally(
    () => services.merges.delete(key),
  );
  services.merges.set(key, { controller, reveal: () => reveal(), done });
  return done;
}

/** Where an artifact's files live: its folder, or the folder of a single-file artifact. */
function artifactFiles(dir: string, entry: ArtifactEntry): { root: string; fileOf(rel: string): string } {
  const at = path.join(dir, ...entry.path.split('/'));
  const isFolder = fs.statSync(at, { throwIfNoEntry: false })?.isDirectory() ?? true;
  const root = isFolder ? at : path.dirname(at);
  return { root, fileOf: (rel) => path.join(root, ...rel.split('/')) };
}

function entryOf(collection: CollectionModel, id: string): ArtifactEntry {
  const manifest = loadCollection(collection.dir).manifest;
  const entry = manifest.artifacts.find((a) => `${a.type}/${a.name}` === id || a.name === id);
  if (!entry) throw new Error(`${id} is not in ${collection.name}'s manifest`);
  return entry;
}

async function walk(
  services: Services,
  collection: CollectionModel,
  id: string,
  first: string | undefined,
  signal: AbortSignal,
  onReveal: (reveal: () => Promise<void>) => void,
): Promise<ConflictWalkOutcome> {
  const entry = entryOf(collection, id);
  const files = artifactFiles(collection.dir, entry);
  const left = remainingConflicts(collection.dir, entry);
  const merged: vscode.Uri[] = [];
  const markers = [...left.markers].sort((a, b) => Number(b === first) - Number(a === first));
  try {
    for (const rel of markers) {
      const real = files.fileOf(rel);
      const output = services.results.begin(real);
      merged.push(output);
      const merge = { services, collection, id, rel, real, output };
      onReveal(() => openMerge(merge).then(() => undefined));
      const answer = await mergeFile(merge, signal);
      if (answer === 'cancel') return { id, outcome: 'cancelled' };
      if (answer === 'closed') {
        notifyClosed(services, collection, id, rel);
        return { id, outcome: 'open' };
      }
    }
    for (const copy of left.upstreamCopies) {
      if (signal.aborted) return { id, outcome: 'cancelled' };
      const answer = await chooseCopy(services, id, copy);
      const rel = copy.replace(UPSTREAM_COPY, '');
      if (answer === 'mine') fs.rmSync(files.fileOf(copy), { force: true });
      else if (answer === 'upstream') fs.renameSync(files.fileOf(copy), files.fileOf(rel));
      else return { id, outcome: 'open' };
    }
    const still = remainingConflicts(collection.dir, entry);
    if (still.markers.length + still.upstreamCopies.length > 0) return { id, outcome: 'open' };
    await markResolvedFlow(services, collection, [id]);
    return { id, outcome: 'resolved' };
  } finally {
    await closeMergeTabs(merged);
    for (const output of merged) services.results.drop(output);
  }
}

interface FileMerge {
  services: Services;
  collection: CollectionModel;
  id: string;
  /** Relative to the artifact. */
  rel: string;
  /** The collection's file, with conflict markers. */
  real: string;
  /** The merge editor's result: the real file's path under our scheme, its writes a draft in memory. */
  output: vscode.Uri;
}

/**
 * One file in the merge editor until our Complete Merge (its result then replaces the real file, unless
 * markers remain), a close without it, or a cancel (Abort Update).
 */
async function mergeFile(merge: FileMerge, signal: AbortSignal): Promise<'completed' | 'closed' | 'cancel'> {
  const { services, id, rel, real, output } = merge;
  const name = `${shortName(id)}/${rel}`;
  for (;;) {
    const editor = await openMerge(merge);
    const answer = await services.prompter.awaitMerge({
      artifact: id,
      rel,
      output,
      editor,
      conflicts: countConflicts(fs.readFileSync(real, 'utf8')),
      signal,
    });
    if (answer !== 'completed' || signal.aborted) return signal.aborted ? 'cancel' : answer;
    const data = await completedResult(services, output, name);
    if (data === undefined) {
      void services.prompter.notify({
        id: 'merge-unsaved',
        severity: 'warning',
        message: t(
          'The result of {0} could not be saved. Nothing was written; complete the merge again.',
          name,
        ),
        actions: [],
      });
      continue;
    }
    if (hasConflictMarkers(Buffer.from(data).toString('utf8'))) {
      void services.prompter.notify({
        id: 'merge-unresolved',
        severity: 'warning',
        message: t('{0} still has conflict markers. Resolve them, then complete the merge.', name),
        actions: [],
      });
      continue;
    }
    if (await keepsBaseInEveryConflict(merge, data)) {
      services.log.info(`[Conflicts] ${name}: completed with the base text in every conflict; asking`);
      const answer = await services.prompter.warn({
        id: 'confirmBaseResult',
        message: t(
          "The result of {0} keeps the base text in every conflict: both sides' changes there would be lost.",
          name,
        ),
        detail: t(
          'This is what the merge editor starts from, before any conflict is handled. Go back to the merge editor to finish it, or keep the base text.',
        ),
        choices: [
          { id: 'back', title: t('Back to Merge') },
          { id: 'keep', title: t('Keep Base Text') },
        ],
      });
      if (signal.aborted) return 'cancel';
      if (answer !== 'keep') {
        // That start is no work of the person's: the merge starts over from the file and its markers.
        services.results.restart(output);
        continue;
      }
    }
    fs.writeFileSync(real, data);
    services.results.drop(output);
    services.log.info(`[Conflicts] ${name}: merge completed, written`);
    return 'completed';
  }
}

/**
 * The merge's result once its last save has landed, or undefined when it cannot be. Complete Merge saves
 * the result and then closes the editor, but when another save of the document is still under way (the
 * merge editor's own starting result, an auto-save), VS Code can report the merge complete while the
 * person's result is still unsaved: the draft then holds the starting text, the base wherever there was
 * a conflict, and taking it would lose both sides' edits (seen in CI on 2026-12-08: the close asked "Do
 * you want to save the changes?", and the late save found the merge ended). So a result document still
 * open with unsaved changes is saved first, and the draft read only once that save is through.
 */
async function completedResult(
  services: Services,
  output: vscode.Uri,
  name: string,
): Promise<Uint8Array | undefined> {
  const key = output.toString();
  const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
  if (document?.isDirty) {
    services.log.info(`[Conflicts] ${name}: completed with unsaved changes; saving them first`);
    const saved = await document.save().then(undefined, () => false);
    if (!saved || document.isDirty) return undefined;
  }
  return services.results.result(output);
}

/**
 * Whether a completed result is the merge with every conflict left at its base lines: the text VS Code's
 * merge editor starts its result from. A person may mean it (neither side, everywhere), but it is also
 * what a merge holds when the person's resolution never reached the result: Complete Merge's close
 * asked to save it and "Don't Save" reverted it to that start. Taken silently, both sides' edits in every
 * conflict would be lost, so the walk asks. False when a side cannot be read or is binary.
 */
async function keepsBaseInEveryConflict(merge: FileMerge, data: Uint8Array): Promise<boolean> {
  const { services, collection, id, rel } = merge;
  const sides = await conflictSides(collection.dir, id, rel, services.store.readOptions()).catch(
    () => undefined,
  );
  if (!sides?.local || !sides.upstream) return false;
  const base = sides.base ?? Buffer.alloc(0);
  if ([base, sides.local, sides.upstream].some((side) => isBinary(side))) return false;
  const start = mergeKeepingBase(
    base.toString('utf8'),
    sides.local.toString('utf8'),
    sides.upstream.toString('utf8'),
  );
  return Buffer.from(start, 'utf8').equals(data);
}

function countConflicts(text: string): number {
  return Math.max(1, (text.match(/^<{7}( |$)/gm) ?? []).length);
}

function sideUri(merge: FileMerge, side: ConflictSide): vscode.Uri {
  return toSnapshotUri(
    { kind: 'conflict', dir: merge.collection.dir, artifact: merge.id, rel: merge.rel, side },
    merge.real,
  );
}

/** VS Code's merge editor (base / local / upstream / result); the result with its markers where it is missing. */
async function openMerge(merge: FileMerge): Promise<'merge' | 'text'> {
  try {
    await vscode.commands.executeCommand('_open.mergeEditor', {
      base: sideUri(merge, 'base'),
      input1: { uri: sideUri(merge, 'local'), title: t('Mine'), description: t('before the update') },
      input2: { uri: sideUri(merge, 'upstream'), title: t('Upstream'), description: t('the update') },
      output: merge.output,
    });
    return 'merge';
  } catch (err) {
    merge.services.log.warn(
      `[Conflicts] the merge editor could not open (${String(err)}); opening the result with conflict markers`,
    );
    await vscode.commands.executeCommand('vscode.open', merge.output);
    return 'text';
  }
}

function notifyClosed(services: Services, collection: CollectionModel, id: string, rel: string): void {
  services.log.info(`[Conflicts] the merge of ${id}/${rel} was closed without Complete Merge`);
  void services.prompter
    .notify({
      id: 'merge-closed',
      severity: 'warning',
      message: t(
        'The merge of {0} was closed without Complete Merge. Nothing was written: the file keeps its conflict markers and {1} stays conflicted.',
        `${shortName(id)}/${rel}`,
        shortName(id),
      ),
      actions: [
        { id: 'reopen', title: t('Reopen Merge Editor') },
        { id: 'abort', title: t('Abort Update') },
      ],
    })
    .then((action) => {
      const target = { collection: collection.dir, artifact: id };
      if (action === 'reopen') void vscode.commands.executeCommand('artifactKeeper.resolveConflicts', target);
      if (action === 'abort') void vscode.commands.executeCommand('artifactKeeper.abortUpdate', target);
    });
}

/** A file kept as local with upstream's version beside it (binary, or deleted on one side). */
function chooseCopy(services: Services, id: string, copy: string): Promise<string | undefined> {
  const rel = copy.replace(UPSTREAM_COPY, '');
  return services.prompter.pick({
    id: 'pickConflictSide',
    title: t('{0}: {1} changed on both sides', shortName(id), rel),
    placeholder: t("Upstream's version is beside it as {0}", copy),
    items: [
      { label: t('$(account) Keep mine'), detail: t("Delete upstream's copy {0}.", copy), value: 'mine' },
      {
        label: t('$(cloud-download) Take upstream'),
        detail: t("Replace {0} with upstream's copy.", rel),
        value: 'upstream',
      },
      {
        label: t('$(clock) Decide later'),
        detail: t('Leave both; {0} stays conflicted.', shortName(id)),
        value: 'later',
      },
    ],
  });
}

/**
 * "Mark Resolved" (and the end of a walk): re-locks the artifacts once no marker or upstream copy is
 * left; refused with `conflicts-remain` otherwise. Unsaved edits of their files are saved first, as the
 * person expects of a "done" button after editing markers by hand.
 */
export async function markResolvedFlow(
  services: Services,
  collection: CollectionModel,
  ids: readonly string[],
): Promise<ConflictOperationResult> {
  if (ids.length === 0) throw new CoreError({ code: 'not-conflicted', artifact: collection.name });
  await saveDocumentsOf(collection, ids);
  const names = ids.map(shortName).join(', ');
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'resolving', artifacts: [...ids] },
      mutates: true,
      progress: 'notification',
      title: t('Resolving {0}', names),
    },
    (ctx) => resolveConflicts(collection.dir, ids, ctx.options),
  );
  services.log.info(`[Conflicts] ${names} resolved (snapshot ${result.preSnapshot} before)`);
  void services.prompter.notify({
    id: 'conflicts-resolved',
    severity: 'info',
    message: t('All conflicts in {0} resolved.', names),
    actions: [],
  });
  return result;
}

/** "Abort Update": stops a walk of the artifacts, then puts them back as before the update. */
export async function abortUpdateFlow(
  services: Services,
  collection: CollectionModel,
  ids: readonly string[],
): Promise<ConflictOperationResult> {
  if (ids.length === 0) throw new CoreError({ code: 'not-conflicted', artifact: collection.name });
  for (const id of ids) {
    const running = services.merges.get(`${collection.dir}\n${id}`);
    running?.controller.abort();
    await running?.done.catch(() => undefined);
  }
  const names = ids.map(shortName).join(', ');
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'resolving', artifacts: [...ids] },
      mutates: true,
      progress: 'notification',
      title: t('Aborting the update of {0}', names),
    },
    (ctx) => abortConflicts(collection.dir, ids, ctx.options),
  );
  services.log.info(`[Conflicts] the update of ${names} aborted (snapshot ${result.preSnapshot} before)`);
  void services.prompter.notify({
    id: 'update-aborted',
    severity: 'info',
    message: t('Aborted the update of {0}: it is back as it was before the update.', names),
    actions: [],
  });
  return result;
}

async function saveDocumentsOf(collection: CollectionModel, ids: readonly string[]): Promise<void> {
  const roots = ids.map((id) => {
    const report = collection.report?.artifacts.find((a) => a.id === id);
    return report ? path.join(collection.dir, ...report.path.split('/')) : undefined;
  });
  for (const document of vscode.workspace.textDocuments) {
    if (!document.isDirty || document.uri.scheme !== 'file') continue;
    const file = document.uri.fsPath;
    if (roots.some((root) => root && (file === root || file.startsWith(root + path.sep))))
      await document.save();
  }
}

/** Closes the editors of these merge results (saved first, to their drafts, so closing asks nothing). */
async function closeMergeTabs(results: readonly vscode.Uri[]): Promise<void> {
  const keys = new Set(results.map((uri) => uri.toString()));
  const ours = (uri: vscode.Uri | undefined): boolean => uri !== undefined && keys.has(uri.toString());
  for (const document of vscode.workspace.textDocuments) {
    if (ours(document.uri) && document.isDirty) await document.save().then(undefined, () => false);
  }
  const tabs = vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .filter((tab) => {
      if (tab.input instanceof vscode.TabInputText) return ours(tab.input.uri);
      const result = (tab.input as { result?: unknown } | undefined)?.result;
      return result instanceof vscode.Uri && ours(result) && isMergeTabFor(tab, result);
    });
  if (tabs.length > 0) await vscode.window.tabGroups.close(tabs, true).then(undefined, () => false);
}
