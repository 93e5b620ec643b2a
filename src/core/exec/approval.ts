/**
 * Findings of a transfer and their approval (DESIGN §11): what an artifact's new files add that runs
 * (rules.ts, per file against the files it replaces), and the explicit yes an operation needs before it
 * applies them — `--allow-exec`, an interactive answer, or an earlier approval of the very same plan.
 *
 * An approval is recorded in `.artifact-keeper/approvals.json` when it is given (so a plan approved
 * once, whose apply then failed or was cancelled, is not asked again) and in the history entry of the
 * transaction that applies it. Its fingerprint covers every finding and the content it was given for:
 * a plan that changes in any finding or any flagged file asks again.
 */
import { createHash } from 'node:crypto';
import * as fsSync from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import { CoreError } from '../base/errors.js';
import type { Tree } from '../model/artifactTree.js';
import { hashBytesInto, sameBytes } from '../model/largeFiles.js';
import { writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';
import type { RecordedApproval } from '../store/history.js';
import { classifyFile } from './rules.js';
import type { RuleFinding } from './rules.js';

export interface ExecFinding extends RuleFinding {
  /** `type/name` of the artifact the file belongs to. */
  artifact: string;
  /** SHA-256 of the flagged file's new content (first 16 hex digits): part of the plan's fingerprint. */
  content: string;
}

/** How an operation asks for, or is given, the yes for executable changes. */
export interface ExecPolicy {
  /** `--allow-exec`: approved without asking. */
  allow?: boolean;
  /** The interactive yes (a terminal question, VS Code's modal); absent: no one to ask. */
  approve?: (findings: readonly ExecFinding[]) => Promise<boolean>;
  /** Who approves, for the record (the composition root knows the user). */
  user?: string;
}

export type ExecApproval = RecordedApproval;

const APPROVALS_FILE = 'approvals.json';
const KEPT_APPROVALS = 200;

/**
 * What an artifact's new files add that runs: `result` against `mine` (the files it replaces), each
 * path shown as it is in the collection (`skills/pdf/hooks/pre.sh`; a single-file artifact: its path).
 */
export function artifactFindings(
  artifact: string,
  artifactPath: string,
  isFolder: boolean,
  mine: Tree,
  result: Tree,
): ExecFinding[] {
  const found: ExecFinding[] = [];
  for (const [rel, after] of [...result].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const before = mine.get(rel);
    if (before && before.mode === after.mode && sameBytes(before, after)) continue;
    const file = isFolder ? `${artifactPath}/${rel}` : artifactPath;
    const findings = classifyFile(file, before, after);
    if (findings.length === 0) continue;
    const hash = createHash('sha256');
    hashBytesInto(hash, after);
    const content = hash.digest('hex').slice(0, 16);
    for (const f of findings) found.push({ ...f, artifact, content });
  }
  return found;
}

/** A finding as one printable line: `skills/pdf/hooks/pre.sh:3: a new hook script … [hook-file]`. */
export function describeFinding(f: ExecFinding): string {
  return `${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ${f.why} [${f.rule}]`;
}

export function execFingerprint(findings: readonly ExecFinding[]): string {
  const lines = findings.map((f) => [f.artifact, f.file, f.rule, f.line ?? '', f.content].join('\0')).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 32);
}

/**
 * The approval `findings` need, or undefined when there are none. Asks `policy.approve` unless the
 * same plan was approved before or `policy.allow` is set; records a new approval. Throws CoreError
 * `exec-not-approved` (nothing has been written) when no yes is given. The caller holds the writer lock.
 */
export async function approveFindings(
  collectionDir: string,
  findings: readonly ExecFinding[],
  policy: ExecPolicy | undefined,
  fs: Fs,
  now: Date,
): Promise<ExecApproval | undefined> {
  if (findings.length === 0) return undefined;
  const fingerprint = execFingerprint(findings);
  const earlier = readApprovals(collectionDir).find((a) => a.fingerprint === fingerprint);
  if (earlier) return { ...earlier, how: 'earlier' };
  let how: ExecApproval['how'];
  if (policy?.allow) how = 'allow-exec';
  else if (policy?.approve && (await policy.approve(findings))) how = 'interactive';
  else {
    throw new CoreError({
      code: 'exec-not-approved',
      artifacts: [...new Set(findings.map((f) => f.artifact))],
      findings: findings.map(describeFinding),
    });
  }
  const approval: ExecApproval = {
    fingerprint,
    at: now.toISOString(),
    by: policy?.user ?? 'unknown',
    how,
    findings: findings.map(describeFinding),
  };
  await recordApproval(fs, collectionDir, approval);
  return approval;
}

function approvalsPath(collectionDir: string): string {
  return path.join(collectionDir, STATE_DIR, APPROVALS_FILE);
}

export function readApprovals(collectionDir: string): ExecApproval[] {
  try {
    const parsed = JSON.parse(fsSync.readFileSync(approvalsPath(collectionDir), 'utf8')) as unknown;
    return Array.isArray(parsed)
      ? (parsed as ExecApproval[]).filter((a) => typeof a?.fingerprint === 'string')
      : [];
  } catch {
    return []; // none yet, or torn by hand: asking again is the safe side
  }
}

async function recordApproval(fs: Fs, collectionDir: string, approval: ExecApproval): Promise<void> {
  const kept = [...readApprovals(collectionDir), approval].slice(-KEPT_APPROVALS);
  await writeFileAtomic(fs, approvalsPath(collectionDir), `${JSON.stringify(kept, null, 2)}\n`);
}
