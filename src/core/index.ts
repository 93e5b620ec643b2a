/**
 * The core's public API: everything the CLI and the extension may use. The glue imports from here,
 * never from deep paths, so the boundary shows in every diff. Nothing here imports 'vscode'.
 */

// Identity, format and errors
export {
  ARTIFACT_TYPES,
  LAYOUT,
  artifactId,
  isArtifactType,
  lockKey,
  nameProblem,
  parseArtifactRef,
} from './artifact.js';
export type { ArtifactKey, ArtifactType } from './artifact.js';
export { CoreError, describeFailure, isCoreError } from './errors.js';
export type { Failure, FailureCode, LockHolder } from './errors.js';
export { STATE_DIR, silentLogger } from './changes.js';
export type { FileChange, Logger } from './changes.js';
export { nodeFs } from './fs.js';
export type { Fs } from './fs.js';
export { FaultPlan, parseFaultSpec, withFaults } from './faults.js';
export type { FaultRule } from './faults.js';

// Reading a collection
/** Loads manifest + lock (no writes). Throws `not-a-collection`, `toml-invalid`, `manifest-invalid`, `lock-invalid`. */
export { findCollectionDir, loadCollection, lockPath, manifestPath } from './collection.js';
export type { Collection } from './collection.js';
export { MANIFEST_FILE } from './manifest.js';
export type { ArtifactEntry, Manifest } from './manifest.js';
export { LOCK_FILE } from './lock.js';
export type { Lock, LockEntry } from './lock.js';
export { contentHash } from './hash.js';
/** The consistency report of DESIGN §6; incremental through a stat cache; never blocks on the writer lock. */
export {
  checkCollection,
  checkConsistency,
  emptyStatCache,
  loadForCheck,
  loadStatCache,
} from './consistency.js';
export type {
  ArtifactReport,
  ArtifactState,
  CheckOptions,
  CollectionState,
  ConsistencyReport,
  Finding,
  FindingCode,
  StatCache,
} from './consistency.js';
export { initCollection } from './init.js';

// The writer lock, journal and history
/** Who holds the writer lock, if anyone; never waits. */
export { readWriterLock } from './writerLock.js';
export { hasJournal, readJournal } from './journal.js';
export { readHistory } from './history.js';
export type { HistoryEntry } from './history.js';
export { UndoFailedError } from './transaction.js';
export type { RecoveryOutcome } from './transaction.js';

// Updates
export {
  STRATEGIES,
  choiceDecision,
  classify,
  decide,
  mergeFile,
  resultTree,
  touchedUpstream,
} from './plan.js';
export type {
  Conflict,
  Decided,
  Decision,
  FilePlan,
  FileStatus,
  PromptChoice,
  Strategy,
  Tree,
  TreeFile,
} from './plan.js';
export { isBinary, mergeText } from './merge.js';
/** prepare (fetch + plan; no writes, no lock) → decide → apply (lock, stale check, snapshot, atomic commit). */
export { applyUpdate, decideUpdate, prepareUpdate, updateArtifacts } from './update.js';
export type { UpdateRunOptions, UpdateRunResult } from './update.js';
export type {
  ArtifactDecisions,
  ArtifactUpdatePlan,
  OperationOptions,
  UpdatePlan,
  UpdateResolver,
  UpdateResult,
} from './operations.js';
export { addFromSource } from './add.js';
export { relockArtifacts } from './relock.js';
export type { RelockResult } from './relock.js';
export type { AddOptions, AddResult } from './add.js';
export { checkUpdates, loadCheckResults } from './check.js';
export type { CheckResult } from './check.js';
export { parseSource, displaySource } from './sources.js';

// Snapshots
export {
  DEFAULT_RETENTION,
  diffSnapshot,
  exportSnapshotFile,
  importSnapshotFile,
  listSnapshots,
  pruneSnapshots,
  readSnapshotFile,
  recoverCollection,
  restoreSnapshot,
  setSnapshotPinned,
  takeSnapshot,
} from './restore.js';
export type { RestoreResult, Retention } from './restore.js';
export type { SnapshotDiffEntry, SnapshotInfo } from './snapshots.js';
export { readUpstreamFile } from './upstreamFiles.js';
