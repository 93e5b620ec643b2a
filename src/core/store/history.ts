/**
 * The history log, `.artifact-keeper/history.jsonl`: one JSON line per committed transaction, oldest
 * first on disk. Appending is idempotent by transaction id (recovery may record a commit a second time),
 * and a torn last line, from a crash or a foreign writer, is skipped rather than trusted.
 */
import * as fsSync from 'node:fs';
import * as path from 'node:path';
import { STATE_DIR } from '../base/changes.js';
import type { Logger } from '../base/changes.js';
import { ioFailure } from '../base/errors.js';
import { isErrno, writeFileAtomic } from '../ports/fs.js';
import type { Fs } from '../ports/fs.js';

export const HISTORY_FILE = 'history.jsonl';

/** `committed`: recorded by the transaction itself; `recovered`: rolled forward by recovery after a crash. */
export type HistoryOutcome = 'committed' | 'recovered';

export interface HistoryEntry {
  txId: string;
  kind: string;
  description: string;
  artifacts: string[];
  preSnapshot?: string;
  /** Commit time, ISO 8601. */
  time: string;
  tool: string;
  outcome: HistoryOutcome;
  /** The yes given for executable changes this transaction applied (DESIGN §11, exec/approval.ts). */
  approvals?: RecordedApproval[];
  /** A change to a project (deploy, undeploy, pull): where, and the stored image of its paths before. */
  project?: ProjectChange;
}

/** The project side of a two-store transaction, as the journal and the history keep it. */
export interface ProjectChange {
  /** The profile root's folder (`/work/app/.claude`). */
  root: string;
  /** The snapshot store's commit holding the deployed paths and tracking file as they were before. */
  image: string;
}

/** An approval of executable changes as the history keeps it. */
export interface RecordedApproval {
  fingerprint: string;
  /** ISO 8601. */
  at: string;
  by: string;
  how: 'allow-exec' | 'interactive' | 'earlier';
  /** One line per finding, as printed. */
  findings: string[];
}

export function historyPath(collectionDir: string): string {
  return path.join(collectionDir, STATE_DIR, HISTORY_FILE);
}

/**
 * Adds `entry` unless an entry with its txId is already there. The whole file is rewritten atomically
 * rather than appended to: the `Fs` port has no append, and an atomic rewrite can never tear a line.
 * The cost is linear in the history's size (a few hundred bytes per transaction). Throws `io-failed`.
 */
export async function appendHistory(
  fs: Fs,
  collectionDir: string,
  entry: HistoryEntry,
  logger?: Logger,
): Promise<'appended' | 'present'> {
  const file = historyPath(collectionDir);
  let text = '';
  try {
    text = (await fs.readFile(file)).toString('utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw ioFailure('read', file, err);
  }
  const { entries, validText, skipped } = parseHistory(text);
  if (entries.some((existing) => existing.txId === entry.txId)) return 'present';
  if (skipped > 0) logger?.warn(`[History] dropping ${skipped} unreadable line(s) from ${file}`);
  try {
    await writeFileAtomic(fs, file, `${validText}${serializeEntry(entry)}\n`);
  } catch (err) {
    throw ioFailure('write', file, err);
  }
  return 'appended';
}

/** Every recorded transaction, newest first. Reads only; a missing file is an empty history. */
export function readHistory(collectionDir: string): HistoryEntry[] {
  const file = historyPath(collectionDir);
  let text: string;
  try {
    text = fsSync.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw ioFailure('read', file, err);
  }
  return parseHistory(text).entries.reverse();
}

function parseHistory(text: string): { entries: HistoryEntry[]; validText: string; skipped: number } {
  const entries: HistoryEntry[] = [];
  let validText = '';
  let skipped = 0;
  // Only newline-terminated lines are whole; a tail without its newline is a torn write.
  const lines = text.split('\n');
  const tail = lines.pop();
  if (tail) skipped++;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const entry = parseEntry(line);
    if (!entry) {
      skipped++;
      continue;
    }
    entries.push(entry);
    validText += `${line}\n`;
  }
  return { entries, validText, skipped };
}

function parseEntry(line: string): HistoryEntry | undefined {
  try {
    const value = JSON.parse(line) as Partial<HistoryEntry> | null;
    if (!value || typeof value.txId !== 'string' || typeof value.time !== 'string') return undefined;
    return value as HistoryEntry;
  } catch {
    return undefined;
  }
}

function serializeEntry(entry: HistoryEntry): string {
  // A fixed key order keeps the file diffable and the output deterministic.
  const { txId, kind, description, artifacts, preSnapshot, time, tool, outcome, approvals, project } = entry;
  return JSON.stringify({
    txId,
    kind,
    description,
    artifacts,
    preSnapshot,
    time,
    tool,
    outcome,
    approvals,
    project,
  });
}
