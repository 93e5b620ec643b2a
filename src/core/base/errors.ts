/**
 * Failures of the core as data: a stable `code` plus structured fields.
 * The core never words a message for a person beyond a developer-readable one-liner; the CLI prints
 * that line and the extension translates codes in `userErrors.ts`.
 */
import * as os from 'node:os';
import { showName } from './fileNames.js';

export type Failure =
  | { code: 'toml-invalid'; file: string; line: number; column: number; reason: string }
  | { code: 'manifest-invalid'; file: string; line?: number; artifact?: string; reason: string }
  | { code: 'lock-invalid'; file: string; line?: number; artifact?: string; reason: string }
  | { code: 'lock-version-unsupported'; file: string; version: string }
  /** A project's `.skillmeat-deployed.toml` that cannot be used: malformed, or a path out of its profile root. */
  | { code: 'tracking-invalid'; file: string; line?: number; artifact?: string; reason: string }
  | { code: 'artifact-name-invalid'; name: string; reason: string }
  | { code: 'artifact-path-invalid'; artifact: string; path: string; reason: string }
  | { code: 'artifact-not-found'; artifact: string }
  | { code: 'artifact-exists'; artifact: string }
  | { code: 'artifact-ambiguous'; artifact: string; candidates: string[] }
  | { code: 'not-a-collection'; dir: string; reason: string }
  /** `nestedIn`: the collection found above `dir` (init refuses a collection inside another). */
  | { code: 'collection-exists'; dir: string; nestedIn?: string }
  | { code: 'locked'; holder: LockHolder; lockFile: string }
  | { code: 'git-missing'; reason: string }
  | { code: 'git-too-old'; version: string }
  | { code: 'git-failed'; command: string; reason: string }
  | { code: 'snapshot-not-found'; snapshotId: string }
  | { code: 'snapshot-invalid'; file: string; reason: string }
  | { code: 'io-failed'; op: string; path: string; errno: string; reason: string }
  | { code: 'source-invalid'; source: string; reason: string }
  | { code: 'upstream-unreachable'; source: string; reason: string }
  | { code: 'upstream-invalid'; artifact: string; reason: string }
  | { code: 'plan-stale'; artifact?: string; reason: string }
  | { code: 'conflicts'; conflicts: { artifact: string; path: string }[] }
  /** The artifact is conflicted (an update committed with conflicts) and the operation needs it resolved. */
  | { code: 'conflicted'; artifact: string; reason: string }
  /** `repair` cannot bring manifest and lock back (markers that do not pair up, a side that is not TOML). */
  | { code: 'repair-impossible'; reason: string }
  /** `resolve` / `update --abort` of an artifact that no update left conflicted. */
  | { code: 'not-conflicted'; artifact: string }
  /** `resolve` found conflict markers or `<file>.upstream` copies left in the artifact. */
  | { code: 'conflicts-remain'; artifact: string; files: string[] }
  /** A deploy or undeploy would overwrite or remove copies edited in the project (one line per artifact). */
  | { code: 'project-edits'; artifacts: string[]; project: string }
  | { code: 'validation-failed'; artifact: string; reason: string }
  /** The change adds or alters something that runs (DESIGN §11) and no one said yes; nothing was written. */
  | { code: 'exec-not-approved'; artifacts: string[]; findings: string[] }
  /** `discard`/`reinstall`: neither the stored upstream base nor any snapshot holds the lock's content. */
  | { code: 'locked-content-unavailable'; artifact: string; reason: string }
  | { code: 'interrupted'; journal: string }
  /**
   * `undo` cannot run: the history is empty, the last transaction has no pre-snapshot (init) or it was
   * pruned, or (`not-last`) the transaction asked for is no longer the last one.
   */
  | {
      code: 'undo-unavailable';
      reason: 'no-history' | 'no-snapshot' | 'snapshot-pruned' | 'not-last';
      /** The last transaction, as `describeChange` words it, and its id. */
      change?: string;
      txId?: string;
      snapshotId?: string;
    }
  | { code: 'cancelled' };

export type FailureCode = Failure['code'];

export interface LockHolder {
  pid: number;
  host: string;
  tool: string;
  started: string;
  /** Kernel start time of the holder (Linux `/proc/<pid>/stat` field 22) so a reused pid is not mistaken for it. */
  pidStart?: string;
  operation?: string;
}

export class CoreError extends Error {
  constructor(
    readonly failure: Failure,
    options?: { cause?: unknown },
  ) {
    super(describeFailure(failure), options);
    this.name = 'CoreError';
  }

  get code(): FailureCode {
    return this.failure.code;
  }
}

export function isCoreError<C extends FailureCode>(
  err: unknown,
  code?: C,
): err is CoreError & { failure: Extract<Failure, { code: C }> } {
  return err instanceof CoreError && (code === undefined || err.failure.code === code);
}

/**
 * One line, naming the file, line or artifact: what the CLI prints after `artifact-keeper: `. Always
 * printable: names, paths and reasons come from hostile input (a manifest, an upstream, an archive), so
 * control characters are escaped here, the one place every message passes through.
 */
/** "locked by pid P on host H since T (tool, operation)": the one wording of a writer-lock holder. */
export function describeLockHolder(holder: LockHolder): string {
  return `locked by pid ${holder.pid} on host ${holder.host} since ${holder.started} (${holder.tool}${holder.operation ? `, ${holder.operation}` : ''})`;
}

export function describeFailure(f: Failure): string {
  return printable(describeRaw(f));
}

function describeRaw(f: Failure): string {
  switch (f.code) {
    case 'toml-invalid':
      return `${f.file}:${f.line}:${f.column}: ${f.reason}`;
    case 'manifest-invalid':
    case 'lock-invalid':
    case 'tracking-invalid':
      return `${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ${f.artifact ? `artifact ${f.artifact}: ` : ''}${f.reason}`;
    case 'lock-version-unsupported':
      return `${f.file}: unsupported lock version "${f.version}" (this tool reads version 1.0.0)`;
    case 'artifact-name-invalid':
      return `invalid artifact name "${f.name}": ${f.reason}`;
    case 'artifact-path-invalid':
      return `artifact ${f.artifact}: path "${f.path}" ${f.reason}`;
    case 'artifact-not-found':
      return `no artifact ${f.artifact} in this collection`;
    case 'artifact-exists':
      return `artifact ${f.artifact} is already in this collection`;
    case 'artifact-ambiguous':
      return `"${f.artifact}" is ambiguous: ${f.candidates.join(', ')}`;
    case 'not-a-collection':
      return `${f.dir}: ${f.reason}`;
    case 'collection-exists':
      return f.nestedIn === undefined
        ? `${f.dir}: a collection already exists here`
        : `${f.dir}: inside the collection ${f.nestedIn}; refusing to create a collection within another`;
    case 'locked': {
      const held = describeLockHolder(f.holder);
      // A holder we cannot check (another host, or no name in the lock) may be gone for good: say how out.
      const unverifiable = f.holder.pid === 0 || f.holder.host !== os.hostname();
      return unverifiable
        ? `${held}; if no Artifact Keeper runs there any more, \`artifact-keeper unlock --force\` breaks the lock`
        : held;
    }
    case 'git-missing':
      return `git is required but was not found (${f.reason})`;
    case 'git-too-old':
      return `git ${f.version} is too old: Artifact Keeper needs git 2.30 or newer`;
    case 'git-failed':
      return `git ${f.command} failed: ${f.reason}`;
    case 'snapshot-not-found':
      return `no snapshot "${f.snapshotId}"`;
    case 'snapshot-invalid':
      return `${f.file}: ${f.reason}`;
    case 'io-failed':
      return `${f.op} ${f.path} failed: ${f.errno} ${f.reason}`;
    case 'source-invalid':
      return `invalid source "${f.source}": ${f.reason}`;
    case 'upstream-unreachable':
      return `upstream ${f.source} is unreachable: ${f.reason}`;
    case 'upstream-invalid':
      return `artifact ${f.artifact}: upstream content rejected: ${f.reason}`;
    case 'plan-stale':
      return `${f.artifact ? `artifact ${f.artifact}: ` : ''}the plan is stale: ${f.reason}`;
    case 'conflicts':
      return `${f.conflicts.length} conflict(s): ${f.conflicts.map((c) => `${c.artifact}:${c.path}`).join(', ')}`;
    case 'conflicted':
      return `artifact ${f.artifact} has unresolved conflicts: ${f.reason}`;
    case 'repair-impossible':
      return `cannot repair: ${f.reason}`;
    case 'not-conflicted':
      return `artifact ${f.artifact} is not conflicted: no update left conflicts in it`;
    case 'conflicts-remain':
      return `artifact ${f.artifact} still has conflicts: ${f.files.join(', ')}; edit them away, then run resolve again`;
    case 'validation-failed':
      return `artifact ${f.artifact}: ${f.reason}`;
    case 'project-edits':
      return `project edits in ${f.project} would be lost: ${f.artifacts.join('; ')}; use --strategy merge to merge them, --strategy keep to keep them, or --force to overwrite (undo brings them back)`;
    case 'exec-not-approved':
      return `${f.findings.length} executable change(s) in ${f.artifacts.join(', ')} not approved (${f.findings[0] ?? ''}${f.findings.length > 1 ? `, and ${f.findings.length - 1} more` : ''}): review them, then re-run with --allow-exec`;
    case 'locked-content-unavailable':
      return `cannot put ${f.artifact} back to its locked content: ${f.reason}`;
    case 'interrupted':
      return `an interrupted transaction must be recovered first (${f.journal})`;
    case 'undo-unavailable': {
      if (f.reason === 'no-history') return 'nothing to undo: the history of this collection is empty';
      const what = `cannot undo ${f.change ?? 'the last change'}${f.txId ? ` (tx ${f.txId})` : ''}`;
      if (f.reason === 'no-snapshot') return `${what}: no snapshot was taken before it`;
      if (f.reason === 'snapshot-pruned')
        return `${what}: its snapshot ${f.snapshotId ?? ''} was pruned by retention`;
      return `${what}: it is no longer the last change (see artifact-keeper history)`;
    }
    case 'cancelled':
      return 'cancelled';
  }
}

/** Wraps a Node fs error into `io-failed`, keeping the original as cause. */
export function ioFailure(op: string, path: string, err: unknown): CoreError {
  const e = err as NodeJS.ErrnoException;
  return new CoreError(
    {
      code: 'io-failed',
      op,
      path,
      errno: e?.code ?? 'EUNKNOWN',
      reason: firstLine(e?.message ?? String(err)),
    },
    { cause: err },
  );
}

// C0 controls (newlines and tabs too: a message is one line), DEL, C1 controls, and the two Unicode line
// separators that some terminals and editors break lines at.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Escapes control characters so `text` prints as one line and cannot drive a terminal: `\n`, `\r`,
 * `\t`, `\x1b`-style for the other C0 and C1 controls and DEL, `\u2028` for the line separators. Other
 * Unicode is kept as it is; the bytes of a name that is not UTF-8 read `\xff`. Backslashes are not
 * doubled: the result is for reading, not for parsing.
 */
export function printable(text: string): string {
  // A file name that is not UTF-8 is held with its bad bytes as lone surrogates (fileNames.ts): show them
  // as `\xNN`, not as the U+FFFD a terminal would print.
  return showName(text).replace(UNPRINTABLE, (char) => {
    const named = NAMED_ESCAPES[char];
    if (named) return named;
    const code = char.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

export function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.trim();
}
