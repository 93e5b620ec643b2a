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
 * Adds `entry` unless an entry with its txId is already there, in time that does not grow with the
 * history: the file's last `TAIL_BYTES` are read, and the line is appended and fsync'ed. Only the same
 * transaction's recovery records a txId again, and it does so before any later transaction commits (the
 * writer lock serialises them, and a writer recovers first), so a recorded one is always among the last
 * lines. A file that is new, empty or does not end in a whole line (a torn append, a power cut) is
 * instead rewritten whole and atomically, without its unreadable lines, as every append did before
 * 2026-12-07; so a line is never glued onto a torn one. An append cut short by a crash leaves a torn
 * line that readers skip and the next append drops; the journal, still there, makes recovery record the
 * entry again. Throws `io-failed`.
 */
export async function appendHistory(
  fs: Fs,
  collectionDir: string,
  entry: HistoryEntry,
  logger?: Logger,
): Promise<'appended' | 'present'> {
  const file = historyPath(collectionDir);
  const tail = readTail(file, TAIL_BYTES);
  if (!tail || tail.bytes.length === 0 || tail.bytes[tail.bytes.length - 1] !== NEWLINE)
    return rewriteHistory(fs, file, entry, logger);
  if (tailEntries(tail).some((existing) => existing.txId === entry.txId)) return 'present';
  try {
    await fs.appendFile(file, `${serializeEntry(entry)}\n`);
    await fs.fsync(file);
  } catch (err) {
    throw ioFailure('write', file, err);
  }
  return 'appended';
}

/** How much of the history's end an append reads: the last two hundred entries or so. */
const TAIL_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** `appendHistory` for a file that is new or ends in a torn line: read whole, rewritten atomically. */
async function rewriteHistory(
  fs: Fs,
  file: string,
  entry: HistoryEntry,
  logger?: Logger,
): Promise<'appended' | 'present'> {
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

/** The readable entries of whole lines in a tail, oldest first: its first line is cut unless it starts the file. */
function tailEntries(tail: { bytes: Buffer; start: number }): HistoryEntry[] {
  const whole = tail.start === 0 ? tail.bytes : tail.bytes.subarray(tail.bytes.indexOf(NEWLINE) + 1);
  return parseHistory(whole.toString('utf8')).entries;
}

/**
 * The last `length` bytes of `file` (all of it when shorter) and where they start; undefined when there
 * is no file. A read that only inspects, as the port allows. Throws `io-failed`.
 */
function readTail(file: string, length: number): { bytes: Buffer; start: number } | undefined {
  const opened = openForReading(file);
  if (!opened) return undefined;
  const { fd, size } = opened;
  try {
    const start = Math.max(0, size - length);
    return { bytes: readRange(file, fd, start, size - start), start };
  } finally {
    fsSync.closeSync(fd);
  }
}

/**
 * `file` open for reading, with its size; undefined when there is no file. The caller closes `fd`.
 * Throws `io-failed`.
 */
function openForReading(file: string): { fd: number; size: number } | undefined {
  let fd: number;
  try {
    fd = fsSync.openSync(file, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw ioFailure('read', file, err);
  }
  try {
    return { fd, size: fsSync.fstatSync(fd).size };
  } catch (err) {
    fsSync.closeSync(fd);
    throw ioFailure('read', file, err);
  }
}

/** `length` bytes of `fd` from `start` (fewer if the file ends first). Throws `io-failed`. */
function readRange(file: string, fd: number, start: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let got = 0;
  try {
    while (got < length) {
      const n = fsSync.readSync(fd, bytes, got, length - got, start + got);
      if (n === 0) break;
      got += n;
    }
  } catch (err) {
    throw ioFailure('read', file, err);
  }
  return bytes.subarray(0, got);
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

/**
 * The newest recorded transaction (`readHistory(dir)[0]`): what `undo` looks at, in time that does not
 * grow with the history.
 */
export function newestHistoryEntry(collectionDir: string): HistoryEntry | undefined {
  return findHistory(collectionDir, () => true);
}

/**
 * The newest recorded transaction that `matches` (`readHistory(dir).find(matches)`), read from the end
 * of the file backwards (`historyNewestFirst`), so finding the last update or the update that left a
 * conflict costs what lies after it, not the whole history (an `update --all` of 2,000 artifacts is a
 * line of tens of kilobytes). Throws `io-failed`.
 */
export function findHistory(
  collectionDir: string,
  matches: (entry: HistoryEntry) => boolean,
  chunkBytes = TAIL_BYTES,
): HistoryEntry | undefined {
  for (const entry of historyNewestFirst(collectionDir, chunkBytes)) if (matches(entry)) return entry;
  return undefined;
}

/**
 * Every recorded transaction, newest first (`readHistory`'s order), read from the end of the file
 * backwards `chunkBytes` at a time, as far as the caller goes. A torn last line and unreadable lines are
 * skipped, as `readHistory` skips them. Reads only; a missing file is an empty history. Throws
 * `io-failed`. The file stays open until the caller stops (a `for … of` that breaks closes it).
 */
export function* historyNewestFirst(
  collectionDir: string,
  chunkBytes = TAIL_BYTES,
): Generator<HistoryEntry, void, undefined> {
  const file = historyPath(collectionDir);
  const opened = openForReading(file);
  if (!opened) return;
  const { fd } = opened;
  let end = opened.size;
  try {
    // The start of a line whose beginning lies in bytes not read yet.
    let carry: Buffer = Buffer.alloc(0);
    // Until a newline is seen, the bytes read are the last line, whole only if the file ends in one.
    let lastLine = true;
    for (;;) {
      const start = Math.max(0, end - chunkBytes);
      const read = readRange(file, fd, start, end - start);
      const bytes = carry.length > 0 ? Buffer.concat([read, carry]) : read;
      const lines = splitOnNewlines(bytes);
      const first = start > 0 ? 1 : 0;
      for (let i = lines.length - 1; i >= first; i--) {
        if (lastLine && i === lines.length - 1) continue;
        const entry = parseEntry((lines[i] as Buffer).toString('utf8'));
        if (entry) yield entry;
      }
      if (lines.length > 1) lastLine = false;
      if (start === 0) return;
      carry = lines[0] as Buffer;
      end = start;
    }
  } finally {
    fsSync.closeSync(fd);
  }
}

/** The pieces of `bytes` between newlines (a newline is never part of a UTF-8 sequence). */
function splitOnNewlines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let from = 0;
  for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, from)) {
    lines.push(bytes.subarray(from, nl));
    from = nl + 1;
  }
  lines.push(bytes.subarray(from));
  return lines;
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
