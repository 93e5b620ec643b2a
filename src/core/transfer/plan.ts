/**
 * The per-file plan of an update (DESIGN §5 steps 5–6), pure: classify every path of an artifact by
 * comparing base (the upstream content last applied), mine (the collection now) and upstream (the new
 * content), then turn a strategy into one decision per file. Conflicts are values, never exceptions.
 */
import { isBinary, mergeBytes } from '../merge/merge.js';
import type { MergeLabels } from '../merge/merge.js';
import type { Tree, TreeFile } from '../model/artifactTree.js';
import { fileHead, sameBytes } from '../model/largeFiles.js';

// Defined with the model (below both the store and the planner); planned here.
export type { Tree, TreeFile } from '../model/artifactTree.js';

export type FileStatus =
  | 'unchanged'
  | 'same-change'
  | 'upstream-modified'
  | 'upstream-added'
  | 'upstream-removed'
  | 'local-modified'
  | 'local-added'
  | 'local-removed'
  | 'both-modified'
  | 'both-added'
  | 'removed-upstream-modified-locally'
  | 'removed-locally-modified-upstream';

/** A file's status in words, for people (a prompt's title, a hover). */
export const STATUS_WORDS: Record<FileStatus, string> = {
  unchanged: 'unchanged',
  'same-change': 'the same change on both sides',
  'upstream-modified': 'changed upstream',
  'upstream-added': 'added upstream',
  'upstream-removed': 'removed upstream',
  'local-modified': 'changed here',
  'local-added': 'added here',
  'local-removed': 'removed here',
  'both-modified': 'changed here and upstream',
  'both-added': 'added here and upstream',
  'removed-upstream-modified-locally': 'removed upstream, changed here',
  'removed-locally-modified-upstream': 'removed here, changed upstream',
};

/** True when the file carries an edit of ours: a choice that replaces it would lose that edit. */
export function hasLocalEdit(plan: Pick<FilePlan, 'status'>): boolean {
  return [
    'local-modified',
    'local-added',
    'local-removed',
    'both-modified',
    'both-added',
    'removed-upstream-modified-locally',
    'removed-locally-modified-upstream',
  ].includes(plan.status);
}

export interface FilePlan {
  rel: string;
  status: FileStatus;
  binary: boolean;
  base?: TreeFile;
  mine?: TreeFile;
  upstream?: TreeFile;
}

export type Strategy = 'overwrite' | 'merge' | 'keep' | 'prompt';
export const STRATEGIES: readonly Strategy[] = ['overwrite', 'merge', 'keep', 'prompt'];

/**
 * What happens to one file. `content` carries a resolved merge (from the merge or from the user);
 * `conflict` is a conflict committed as git leaves one (DESIGN §5 step 6): the text with markers, or
 * the local file kept and upstream's version written beside it as `<file>.upstream`.
 */
export type Decision =
  | { kind: 'mine' }
  | { kind: 'upstream' }
  | { kind: 'content'; data: Buffer; mode: number }
  | { kind: 'delete' }
  | { kind: 'conflict'; markers?: TreeFile; upstreamCopy?: TreeFile; conflicts: number };

export interface Conflict {
  rel: string;
  status: FileStatus;
  binary: boolean;
  /** For text conflicts: the file with conflict markers, as the merge editor's starting result. */
  proposal?: Buffer;
  conflicts: number;
}

/** The user's choice for a file under the `prompt` strategy. */
export type PromptChoice = 'upstream' | 'mine' | 'merge' | 'skip-artifact';

/** The marker labels, as git's: `<<<<<<< local`, `||||||| base`, `=======`, `>>>>>>> upstream`. */
export const LABELS: MergeLabels = { mine: 'local', base: 'base', upstream: 'upstream' };

/** The suffix of upstream's version of a file that conflicts and cannot carry markers (binary, deleted). */
export const UPSTREAM_COPY_SUFFIX = '.upstream';

function sameFile(a: TreeFile | undefined, b: TreeFile | undefined): boolean {
  if (!a || !b) return a === b;
  return a.mode === b.mode && sameBytes(a, b);
}

/** Classifies every path of base ∪ mine ∪ upstream; sorted by path. `base` undefined = no known base. */
export function classify(base: Tree | undefined, mine: Tree, upstream: Tree): FilePlan[] {
  const paths = new Set([...(base?.keys() ?? []), ...mine.keys(), ...upstream.keys()]);
  const plans: FilePlan[] = [];
  for (const rel of [...paths].sort()) {
    const b = base?.get(rel);
    const m = mine.get(rel);
    const u = upstream.get(rel);
    const binary = [b, m, u].some((f) => f !== undefined && f.mode !== 0o120000 && isBinary(fileHead(f)));
    plans.push({
      rel,
      status: statusOf(b, m, u),
      binary,
      ...(b ? { base: b } : {}),
      ...(m ? { mine: m } : {}),
      ...(u ? { upstream: u } : {}),
    });
  }
  return plans;
}

function statusOf(b: TreeFile | undefined, m: TreeFile | undefined, u: TreeFile | undefined): FileStatus {
  if (sameFile(m, u)) return sameFile(m, b) ? 'unchanged' : 'same-change';
  if (sameFile(m, b)) return !u ? 'upstream-removed' : !b ? 'upstream-added' : 'upstream-modified';
  if (sameFile(u, b)) return !m ? 'local-removed' : !b ? 'local-added' : 'local-modified';
  if (!u) return 'removed-upstream-modified-locally';
  if (!m) return 'removed-locally-modified-upstream';
  return b ? 'both-modified' : 'both-added';
}

/** True when upstream changed this file (the files a preview or a prompt shows). */
export function touchedUpstream(plan: FilePlan): boolean {
  return !['unchanged', 'same-change', 'local-modified', 'local-added', 'local-removed'].includes(
    plan.status,
  );
}

/** Tries the three-way merge of one file; a clean result is a `content` decision. */
export function mergeFile(plan: FilePlan): { decision: Decision } | { conflict: Conflict } {
  const { mine, upstream } = plan;
  if (!mine || !upstream || plan.binary || mine.mode === 0o120000 || upstream.mode === 0o120000) {
    return { conflict: { rel: plan.rel, status: plan.status, binary: plan.binary, conflicts: 1 } };
  }
  const merged = mergeBytes(plan.base?.data, mine.data, upstream.data, LABELS);
  if (merged.kind === 'binary-conflict') {
    return { conflict: { rel: plan.rel, status: plan.status, binary: true, conflicts: 1 } };
  }
  // A mode change on one side only wins; both sides changing it differently keeps mine.
  const mode = plan.base && mine.mode === plan.base.mode ? upstream.mode : mine.mode;
  if (merged.conflicts > 0) {
    return {
      conflict: {
        rel: plan.rel,
        status: plan.status,
        binary: false,
        proposal: merged.data,
        conflicts: merged.conflicts,
      },
    };
  }
  return { decision: { kind: 'content', data: merged.data, mode } };
}

/** The decision `merge` makes without asking: upstream-only changes taken, local-only kept, both merged. */
export function mergeDecision(plan: FilePlan): { decision: Decision } | { conflict: Conflict } {
  switch (plan.status) {
    case 'unchanged':
    case 'same-change':
    case 'local-modified':
    case 'local-added':
    case 'local-removed':
      return { decision: { kind: 'mine' } };
    case 'upstream-modified':
    case 'upstream-added':
      return { decision: { kind: 'upstream' } };
    case 'upstream-removed':
      return { decision: { kind: 'delete' } };
    case 'both-modified':
    case 'both-added':
      return mergeFile(plan);
    case 'removed-upstream-modified-locally':
    case 'removed-locally-modified-upstream':
      return { conflict: { rel: plan.rel, status: plan.status, binary: plan.binary, conflicts: 1 } };
  }
}

/**
 * The decision `overwrite` makes: upstream's version of every file upstream has or removed. Files
 * only we have (local additions upstream never knew) are kept: they are not upstream's to remove.
 */
export function overwriteDecision(plan: FilePlan): Decision {
  if (plan.upstream) return { kind: 'upstream' };
  if (plan.base || plan.status === 'upstream-removed') return { kind: 'delete' };
  return { kind: 'mine' };
}

export interface Decided {
  decisions: Map<string, Decision>;
  conflicts: Conflict[];
}

/** Applies a non-interactive strategy to every file. `prompt` is resolved by the caller's resolver. */
export function decide(files: readonly FilePlan[], strategy: Exclude<Strategy, 'prompt'>): Decided {
  const decisions = new Map<string, Decision>();
  const conflicts: Conflict[] = [];
  for (const file of files) {
    if (strategy === 'keep') decisions.set(file.rel, { kind: 'mine' });
    else if (strategy === 'overwrite') decisions.set(file.rel, overwriteDecision(file));
    else {
      const result = mergeDecision(file);
      if ('decision' in result) decisions.set(file.rel, result.decision);
      else conflicts.push(result.conflict);
    }
  }
  return { decisions, conflicts };
}

/**
 * `merge` with no one to ask (deploy and pull): clean merges applied, every conflict committed as git
 * leaves it (`conflictDecision`: markers, or `<file>.upstream` beside). The result tree and the conflicts.
 */
export function mergeCommittingConflicts(files: readonly FilePlan[]): {
  result: Tree;
  conflicts: Conflict[];
} {
  const decided = decide(files, 'merge');
  for (const conflict of decided.conflicts) {
    const plan = files.find((f) => f.rel === conflict.rel);
    if (plan) decided.decisions.set(conflict.rel, conflictDecision(plan, conflict));
  }
  return { result: resultTree(files, decided.decisions), conflicts: decided.conflicts };
}

/** The decision a prompt choice stands for (`merge` may still conflict). */
export function choiceDecision(
  plan: FilePlan,
  choice: Exclude<PromptChoice, 'skip-artifact'>,
): { decision: Decision } | { conflict: Conflict } {
  if (choice === 'mine') return { decision: plan.mine ? { kind: 'mine' } : { kind: 'delete' } };
  if (choice === 'upstream') return { decision: plan.upstream ? { kind: 'upstream' } : { kind: 'delete' } };
  return mergeDecision(plan);
}

/**
 * The decision for bytes resolved by hand (a completed merge): the mode follows the merge's rule, a mode
 * change on one side only wins, and mine is kept when both changed it differently.
 */
export function contentDecision(plan: FilePlan, data: Uint8Array): Decision {
  const { base, mine, upstream } = plan;
  const mode =
    base && mine && upstream && mine.mode === base.mode
      ? upstream.mode
      : (mine?.mode ?? upstream?.mode ?? 0o644);
  return { kind: 'content', data: Buffer.from(data), mode };
}

/**
 * A conflict no one resolved, as it is committed: a text conflict is the file with markers (mode by the
 * merge's rule); anything else keeps the local file (or its absence) and, when upstream has a version,
 * writes it beside as `<file>.upstream`. `resolve` refuses while markers or such copies remain.
 */
export function conflictDecision(plan: FilePlan, conflict: Conflict): Decision {
  if (conflict.proposal) {
    const { mode } = contentDecision(plan, conflict.proposal) as { mode: number };
    return { kind: 'conflict', markers: { data: conflict.proposal, mode }, conflicts: conflict.conflicts };
  }
  return {
    kind: 'conflict',
    ...(plan.upstream ? { upstreamCopy: plan.upstream } : {}),
    conflicts: conflict.conflicts,
  };
}

/**
 * The artifact's final files after the decisions. Throws if a file has no decision. `copies`, when
 * given, receives where each conflict's upstream copy went (file → `<file>.upstream`).
 */
export function resultTree(
  files: readonly FilePlan[],
  decisions: ReadonlyMap<string, Decision>,
  copies?: Map<string, string>,
): Tree {
  const result: Tree = new Map();
  for (const file of files) {
    const decision = decisions.get(file.rel);
    if (!decision) throw new Error(`no decision for ${file.rel}`);
    switch (decision.kind) {
      case 'mine':
        if (file.mine) result.set(file.rel, file.mine);
        break;
      case 'upstream':
        if (file.upstream) result.set(file.rel, file.upstream);
        break;
      case 'content':
        result.set(file.rel, { data: decision.data, mode: decision.mode });
        break;
      case 'delete':
        break;
      case 'conflict':
        if (decision.markers) result.set(file.rel, decision.markers);
        else if (file.mine) result.set(file.rel, file.mine);
        break;
    }
  }
  // Upstream copies last, at a name no other file of the result takes.
  for (const file of files) {
    const decision = decisions.get(file.rel);
    if (decision?.kind !== 'conflict' || !decision.upstreamCopy) continue;
    const name = upstreamCopyName(file.rel, result);
    result.set(name, decision.upstreamCopy);
    copies?.set(file.rel, name);
  }
  return result;
}

/** `<file>.upstream`, or `<file>.upstream.2`… when the artifact already has a file of that name. */
export function upstreamCopyName(rel: string, taken: ReadonlyMap<string, unknown>): string {
  let name = `${rel}${UPSTREAM_COPY_SUFFIX}`;
  for (let n = 2; taken.has(name); n++) name = `${rel}${UPSTREAM_COPY_SUFFIX}.${n}`;
  return name;
}
