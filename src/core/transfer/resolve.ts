/**
 * The resolve step of a transfer (DESIGN §3, §5 step 6): from a plan and its strategy to one decision
 * per file, asking a `Resolver` wherever the strategy cannot decide alone. It is the one decide loop:
 * the CLI's strategies (and its terminal prompt) and the extension's editors (diff editors for `prompt`,
 * the merge editor for conflicts, the multi-file preview) are resolvers; neither plans nor decides a file
 * itself. The rules — what a prompt choice means, which mode a hand-merged file gets — live here and in
 * `plan.ts`, so every front end decides the same file the same way.
 */
import type { ArtifactDecisions, ArtifactUpdatePlan, UpdatePlan } from './operations.js';
import { choiceDecision, conflictDecision, contentDecision, decide, touchedUpstream } from './plan.js';
import type { Conflict, Decision, FilePlan, PromptChoice, Strategy } from './plan.js';

/** Where a question stands among its kind, for "2 of 5" in a prompt. */
export interface QuestionAt {
  index: number;
  total: number;
}

/** What a resolver answers for a conflict the strategy could not settle. */
export type ConflictAnswer =
  /** The resolved bytes (a completed merge); the mode follows the merge's rule. */
  | { kind: 'content'; data: Uint8Array }
  /** One side's version whole (binary files, a file deleted on one side). */
  | { kind: 'take'; side: 'mine' | 'upstream' }
  /** Leave this artifact as it is; the others still update. */
  | 'skip-artifact'
  /** No answer here: the conflict stays unresolved (the caller refuses or reports it). */
  | 'leave'
  /** Stop the whole update; nothing is written. */
  | 'cancel';

export interface Resolver {
  /** `prompt`: one choice per file upstream touched, in order. Without it, `prompt` decides as `merge`. */
  chooseFile?(artifact: ArtifactUpdatePlan, file: FilePlan, at: QuestionAt): Promise<PromptChoice | 'cancel'>;
  /** Called once before the conflicts of an artifact are asked (the extension marks it conflicted). */
  beginConflicts?(artifact: ArtifactUpdatePlan, conflicts: readonly Conflict[]): void;
  /** A conflict the strategy could not settle. Without it, every conflict is left unresolved. */
  resolveConflict?(
    artifact: ArtifactUpdatePlan,
    conflict: Conflict,
    file: FilePlan,
    at: QuestionAt,
  ): Promise<ConflictAnswer>;
  /** A last look at everything decided (the extension's overwrite preview); 'cancel' writes nothing. */
  review?(update: ResolvedUpdate): Promise<'apply' | 'cancel'>;
}

export interface ResolvedUpdate {
  strategy: Strategy;
  /** Per artifact that is not up to date: its file decisions, or 'skip'. */
  decisions: Map<string, ArtifactDecisions>;
  /** Conflicts no one resolved (their artifacts' decisions lack those files). */
  unresolved: { artifact: string; conflict: Conflict }[];
}

/** The non-interactive decisions of the plan's strategy (`prompt` starts from `merge`'s). */
export function decideUpdate(plan: UpdatePlan): Map<string, ReturnType<typeof decide>> {
  const strategy = plan.strategy === 'prompt' ? 'merge' : plan.strategy;
  return new Map(plan.artifacts.map((a) => [a.id, decide(a.files, strategy)]));
}

/**
 * Decides every file of the plan: the strategy first, then the resolver for prompt choices and
 * conflicts, then its review. Returns 'cancelled' when the resolver cancels anywhere.
 */
export async function resolveUpdate(
  plan: UpdatePlan,
  resolver: Resolver = {},
): Promise<ResolvedUpdate | 'cancelled'> {
  const auto = decideUpdate(plan);
  const resolved: ResolvedUpdate = { strategy: plan.strategy, decisions: new Map(), unresolved: [] };
  for (const artifact of plan.artifacts) {
    if (artifact.upToDate) continue;
    if (artifact.kept) {
      resolved.decisions.set(artifact.id, 'skip');
      continue;
    }
    const decided = auto.get(artifact.id);
    if (!decided) continue;
    const files = new Map(decided.decisions);
    let conflicts = decided.conflicts;
    if (plan.strategy === 'prompt' && resolver.chooseFile) {
      const chosen = await promptFiles(artifact, files, resolver.chooseFile.bind(resolver));
      if (chosen === 'cancel') return 'cancelled';
      if (chosen === 'skip-artifact') {
        resolved.decisions.set(artifact.id, 'skip');
        continue;
      }
      conflicts = chosen;
    }
    const settled = await settleConflicts(artifact, conflicts, files, resolver, resolved.unresolved);
    if (settled === 'cancel') return 'cancelled';
    resolved.decisions.set(artifact.id, settled === 'skip-artifact' ? 'skip' : files);
  }
  if (resolver.review && (await resolver.review(resolved)) === 'cancel') return 'cancelled';
  return resolved;
}

/** `prompt`: a choice for each file upstream touched. Returns the conflicts a `merge` choice left. */
async function promptFiles(
  artifact: ArtifactUpdatePlan,
  files: Map<string, Decision>,
  choose: NonNullable<Resolver['chooseFile']>,
): Promise<Conflict[] | 'skip-artifact' | 'cancel'> {
  const touched = artifact.files.filter((file) => touchedUpstream(file));
  const conflicts: Conflict[] = [];
  for (const [index, file] of touched.entries()) {
    const choice = await choose(artifact, file, { index: index + 1, total: touched.length });
    if (choice === 'cancel' || choice === 'skip-artifact') return choice;
    const outcome = choiceDecision(file, choice);
    if ('decision' in outcome) files.set(file.rel, outcome.decision);
    else {
      files.delete(file.rel);
      conflicts.push(outcome.conflict);
    }
  }
  return conflicts;
}

/** Asks the resolver about each conflict; unanswered ones go to `unresolved`. */
async function settleConflicts(
  artifact: ArtifactUpdatePlan,
  conflicts: readonly Conflict[],
  files: Map<string, Decision>,
  resolver: Resolver,
  unresolved: ResolvedUpdate['unresolved'],
): Promise<'ok' | 'skip-artifact' | 'cancel'> {
  if (conflicts.length === 0) return 'ok';
  resolver.beginConflicts?.(artifact, conflicts);
  for (const [index, conflict] of conflicts.entries()) {
    const file = artifact.files.find((f) => f.rel === conflict.rel);
    const answer =
      file && resolver.resolveConflict
        ? await resolver.resolveConflict(artifact, conflict, file, {
            index: index + 1,
            total: conflicts.length,
          })
        : 'leave';
    if (answer === 'cancel' || answer === 'skip-artifact') return answer;
    if (answer === 'leave' || !file) {
      unresolved.push({ artifact: artifact.id, conflict });
      continue;
    }
    const decision =
      answer.kind === 'content'
        ? contentDecision(file, answer.data)
        : (choiceDecision(file, answer.side) as { decision: Decision }).decision;
    files.set(conflict.rel, decision);
  }
  return 'ok';
}

/**
 * Leaves every conflict no one resolved in the files, as git does (DESIGN §5 step 6): markers in a text
 * file, else the local file kept and upstream's version beside it as `<file>.upstream`. After this every
 * file of every artifact has a decision and `unresolved` is empty; the apply marks those artifacts
 * conflicted.
 */
export function leaveConflicts(plan: UpdatePlan, resolved: ResolvedUpdate): void {
  for (const { artifact, conflict } of resolved.unresolved) {
    const decisions = resolved.decisions.get(artifact);
    const file = plan.artifacts.find((a) => a.id === artifact)?.files.find((f) => f.rel === conflict.rel);
    if (!decisions || decisions === 'skip' || !file) continue;
    decisions.set(conflict.rel, conflictDecision(file, conflict));
  }
  resolved.unresolved = [];
}
