/**
 * One artifact's verdict in the consistency report (DESIGN §6): its line of the report and the findings
 * about it, from its manifest entry, its lock entry and its measure. Shared by the full check
 * (consistency.ts) and the check record (checkRecord.ts), which re-judges only what moved.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { artifactId } from '../model/artifact.js';
import type { LockEntry } from '../model/lock.js';
import type { ArtifactEntry } from '../model/manifest.js';
import type { ArtifactReport, ArtifactState, CheckOptions, CollectionState, Finding } from './consistency.js';
import type { Measured } from './statCache.js';

/** What the judgement reads of a manifest entry, and of its lock entry. */
export type JudgedFields = Pick<ArtifactEntry, 'name' | 'type' | 'path' | 'resolvedVersion' | 'resolvedSha'>;
export type JudgedLockFields = Pick<LockEntry, 'contentHash' | 'resolvedSha' | 'conflicted'>;

/** An MCP server kept in the manifest's `[[mcp_servers]]`, with no files: nothing to measure. */
export function isFilelessMcp(root: string, entry: Pick<ArtifactEntry, 'type' | 'path'>): boolean {
  return entry.type === 'mcp' && !fs.existsSync(path.join(root, entry.path));
}

/** One artifact's verdict: its line of the report and the findings about it. */
export interface Judged {
  report: ArtifactReport;
  findings: Finding[];
}

/** A verdict with what it judged: a manifest entry and its lock entry, or (no entry) an orphan. */
export interface JudgedEntry extends Judged {
  entry?: JudgedFields;
  locked?: JudgedLockFields;
  /** Undefined for a fileless MCP server (and an orphan). */
  measured?: Measured;
}

/**
 * Judges one manifest entry by its lock entry and its measure (undefined: a fileless MCP server). Reads
 * the disk only where the measure does not say whether a skill's folder holds its `SKILL.md`.
 */
export function judgeArtifact(
  root: string,
  entry: JudgedFields,
  locked: JudgedLockFields | undefined,
  measured: Measured | undefined,
  options: Pick<CheckOptions, 'conflicted' | 'updatesAvailable'> = {},
): Judged {
  const id = artifactId(entry);
  const findings: Finding[] = [];
  const report: ArtifactReport = {
    id,
    name: entry.name,
    type: entry.type,
    path: entry.path,
    state: 'clean',
    ...(entry.resolvedVersion ? { version: entry.resolvedVersion } : {}),
    ...(entry.resolvedSha ? { resolvedSha: entry.resolvedSha } : {}),
    ...(locked ? { lockedHash: locked.contentHash } : {}),
  };
  const flag = (state: ArtifactState, finding: Finding): Judged => {
    report.state = state;
    findings.push(finding);
    return { report, findings };
  };
  if (!measured) {
    // MCP servers live in the manifest's [[mcp_servers]], not as files; nothing to hash.
    if (!locked)
      flag('unlocked', { code: 'lock-entry-missing', artifact: id, message: `${id} has no lock entry` });
    return { report, findings };
  }
  if (measured.kind === 'missing')
    return flag('missing', {
      code: 'files-missing',
      artifact: id,
      message: `${id}: ${entry.path} does not exist`,
    });
  const matchesSkillMeat = !!locked && measured.skillMeatHash === locked.contentHash;
  report.currentHash = matchesSkillMeat ? (measured.skillMeatHash as string) : measured.hash;
  const shapeProblem = shapeOf(entry, root, measured);
  if (shapeProblem) findings.push({ ...shapeProblem, artifact: id });
  if (!locked)
    return flag('unlocked', {
      code: 'lock-entry-missing',
      artifact: id,
      message: `${id} has no entry in collection.lock`,
    });
  if (locked.resolvedSha && entry.resolvedSha && locked.resolvedSha !== entry.resolvedSha) {
    findings.push({
      code: 'lock-mismatch',
      artifact: id,
      message: `${id}: collection.toml pins ${entry.resolvedSha.slice(0, 12)} but collection.lock ${locked.resolvedSha.slice(0, 12)}`,
    });
  }
  if (locked.conflicted || options.conflicted?.has(id))
    return flag('conflicted', {
      code: 'conflicted',
      artifact: id,
      message: locked.conflicted
        ? `${id} has conflicts left by an update; resolve them, then \`resolve ${id}\` (or \`update --abort ${id}\`)`
        : `${id} has an unresolved merge`,
    });
  if (measured.hash !== locked.contentHash && !matchesSkillMeat)
    return flag('modified', { code: 'content-modified', artifact: id, message: `${id} has local edits` });
  if (options.updatesAvailable?.has(id)) report.state = 'update-available';
  return { report, findings };
}

/** The collection's state from all its findings: a journal first, then anything structural, then conflicts. */
export function stateOf(findings: readonly Finding[]): CollectionState {
  if (findings.some((f) => f.code === 'journal-present')) return 'interrupted';
  const structural = findings.some((f) => f.code !== 'content-modified' && f.code !== 'conflicted');
  if (structural) return 'inconsistent';
  if (findings.some((f) => f.code === 'conflicted')) return 'conflicted';
  return findings.length > 0 ? 'modified' : 'clean';
}

function shapeOf(
  entry: Pick<ArtifactEntry, 'name' | 'type' | 'path'>,
  root: string,
  measured: Pick<Measured, 'kind' | 'listsSkillMd'>,
): Omit<Finding, 'artifact'> | undefined {
  if (entry.type !== 'skill' || measured.listsSkillMd) return undefined;
  const id = artifactId(entry);
  if (measured.kind !== 'dir')
    return { code: 'wrong-shape', message: `${id}: a skill must be a folder, ${entry.path} is a file` };
  const target = path.join(root, entry.path);
  if (!fs.existsSync(path.join(target, 'SKILL.md')) && !fs.existsSync(path.join(target, 'skill.md'))) {
    return { code: 'skill-md-missing', message: `${id}: ${entry.path}/SKILL.md is missing` };
  }
  return undefined;
}
