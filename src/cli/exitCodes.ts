/**
 * The CLI's exit codes (DESIGN §7) and the one place that maps a core failure code to one of them.
 */
import type { FailureCode } from '../core/index.js';

export const EXIT = {
  ok: 0,
  modified: 1,
  inconsistent: 2,
  conflicts: 3,
  failedAndUndone: 4,
  locked: 5,
  execNotApproved: 6,
  updatesAvailable: 10,
  usage: 64,
  data: 65,
  noInput: 66,
  unavailable: 69,
  software: 70,
  cancelled: 130,
} as const;

export function exitCodeFor(code: FailureCode): number {
  switch (code) {
    case 'toml-invalid':
    case 'manifest-invalid':
    case 'lock-invalid':
    case 'tracking-invalid':
    case 'lock-version-unsupported':
    case 'artifact-name-invalid':
    case 'artifact-path-invalid':
    case 'artifact-not-found':
    case 'artifact-exists':
    case 'artifact-ambiguous':
    case 'snapshot-not-found':
    case 'snapshot-invalid':
    case 'source-invalid':
    case 'upstream-invalid':
    case 'validation-failed':
    case 'plan-stale':
    case 'collection-exists':
    case 'not-conflicted':
      return EXIT.data;
    case 'not-a-collection':
      return EXIT.noInput;
    case 'git-missing':
    case 'git-too-old':
    case 'upstream-unreachable':
    case 'undo-unavailable':
    case 'locked-content-unavailable':
      return EXIT.unavailable;
    case 'locked':
      return EXIT.locked;
    case 'exec-not-approved':
      return EXIT.execNotApproved;
    case 'conflicts':
    case 'conflicted':
    case 'conflicts-remain':
    case 'project-edits':
      return EXIT.conflicts;
    case 'interrupted':
    case 'repair-impossible':
      return EXIT.inconsistent;
    case 'io-failed':
    case 'git-failed':
      return EXIT.failedAndUndone;
    case 'cancelled':
      return EXIT.cancelled;
  }
}
