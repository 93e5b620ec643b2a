/**
 * Failures of the glue itself (not of the core), as data like the core's: a code plus fields. Worded in
 * exactly one place, `userErrors.ts`.
 */
export type GlueProblem =
  | { code: 'busy'; collection: string; activity: string }
  | { code: 'untrusted' }
  | { code: 'no-collection' }
  | { code: 'collection-unreadable'; collection: string }
  | { code: 'no-upstream'; artifact: string }
  | { code: 'nothing-to-roll-back'; collection: string }
  | { code: 'merge-unresolved'; artifact: string; path: string };

export class ExtensionError extends Error {
  constructor(readonly problem: GlueProblem) {
    super(problem.code);
    this.name = 'ExtensionError';
  }
}
