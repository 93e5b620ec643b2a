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
} from './model/artifact.js';
export type { ArtifactKey, ArtifactType } from './model/artifact.js';
export { CoreError, describeFailure, describeLockHolder, isCoreError, printable } from './base/errors.js';
export type { Failure, FailureCode, LockHolder } from './base/errors.js';
export { STATE_DIR, silentLogger } from './base/changes.js';
export type { FileChange, Logger } from './base/changes.js';
export { nodeFs } from './ports/fs.js';
export type { Fs } from './ports/fs.js';
export { rememberGitVersionsIn } from './ports/gitVersionMemo.js';
export { KeptObjectReaders } from './ports/keptReaders.js';
export { FaultPlan, parseFaultSpec, withFaults } from './ports/faults.js';
/** The clock port: operations take a `Clock` (default: the system clock); roots build it from their environment. */
export { clockFromEnv, fixedClock, systemClock } from './base/time.js';
export type { Clock } from './base/time.js';
export { startTrace, tracePhase, traceReport } from './base/trace.js';
export type { TracePhase, TraceReport } from './base/trace.js';
export type { FaultRule } from './ports/faults.js';

// Reading a collection
/** Loads manifest + lock (no writes). Throws `not-a-collection`, `toml-invalid`, `manifest-invalid`, `lock-invalid`. */
export {
  findCollectionDir,
  holdsCollection,
  loadCollection,
  loadCollectionCaching,
  lockPath,
  manifestPath,
} from './model/collection.js';
export type { Collection } from './model/collection.js';
export { MANIFEST_FILE } from './model/manifest.js';
export type { ArtifactEntry, Manifest } from './model/manifest.js';
export { LOCK_FILE } from './model/lock.js';
export type { Lock, LockEntry } from './model/lock.js';
/** The content hash we lock (SkillMeat's §2.1 over a folder's files without noise); does IO. */
export { contentHash } from './model/hash.js';
/** Noise files (`.DS_Store`, swap files, `*~`, `.git`, `__pycache__`): never edits, never copied. Pure. */
export { isNoiseName, isNoisePath } from './base/noise.js';
/** The consistency report of DESIGN §6; incremental through a stat cache; never blocks on the writer lock. */
export { checkCollection, checkConsistency, loadForCheck } from './status/consistency.js';
export { emptyStatCache, loadStatCache } from './status/statCache.js';
/**
 * The checks of the collections a window shows, off the asking thread: in a worker thread (the bundled
 * `dist/checkWorker.js` serves them), or in-process in slices when the worker cannot run; newest wins.
 */
export { CollectionChecker } from './status/checker.js';
export type { CheckerOptions } from './status/checker.js';
export type { CollectionCheckOutcome, CollectionCheckRequest } from './status/collectionCheck.js';
export { serveCollectionChecks } from './status/checkWorker.js';
export type { DriftCheckOutcome, DriftCheckRequest } from './projects/driftCheck.js';
export type { StatCache } from './status/statCache.js';
export type {
  ArtifactReport,
  ArtifactState,
  CheckOptions,
  CollectionState,
  ConsistencyReport,
  Finding,
  FindingCode,
} from './status/consistency.js';
/** An artifact's changed files against its locked content, git-status style (M, A, D, C); read-only. */
export { artifactFileChanges } from './status/artifactChanges.js';
export type {
  ArtifactChanges,
  ArtifactFileChange,
  ArtifactFileKind,
  ArtifactRef,
} from './status/artifactChanges.js';
/** Creates an empty collection through the transaction engine; refuses one inside another (`collection-exists`). */
export { initCollection } from './transfer/init.js';
export type { InitOptions } from './transfer/init.js';

// The writer lock, journal and history
/** Who holds the writer lock, if anyone; never waits. */
export { breakWriterLock, ensureStateDir, readWriterLock } from './txn/writerLock.js';
export type { WriterLockStatus } from './txn/writerLock.js';
export { hasJournal, journalPath, readJournal } from './txn/journal.js';
export { findHistory, historyNewestFirst, newestHistoryEntry, readHistory } from './store/history.js';
export type { HistoryEntry } from './store/history.js';
export { UndoFailedError } from './txn/transaction.js';
export type { RecoveryOutcome } from './txn/transaction.js';

// Updates
export {
  STATUS_WORDS,
  STRATEGIES,
  choiceDecision,
  classify,
  contentDecision,
  decide,
  hasLocalEdit,
  mergeFile,
  resultTree,
  touchedUpstream,
} from './transfer/plan.js';
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
} from './transfer/plan.js';
export { isBinary, mergeKeepingBase, mergeText } from './merge/merge.js';
/**
 * prepare (fetch + plan; no writes, no lock) → resolve (the strategy, then a Resolver: the CLI's prompt,
 * the extension's editors) → apply (lock, stale check, snapshot, atomic commit).
 */
export { applyUpdate, prepareUpdate, updateArtifacts } from './transfer/update.js';
export { decideUpdate, leaveConflicts, resolveUpdate } from './transfer/resolve.js';
/** Conflicts committed as git leaves them: `resolve` finishes an artifact, `update --abort` backs it out. */
export {
  abortConflicts,
  conflictSides,
  preMergeSnapshot,
  remainingConflicts,
  resolveConflicts,
} from './transfer/conflicts.js';
export type { ConflictOperationResult, ConflictSides, RemainingConflicts } from './transfer/conflicts.js';
export type { ConflictAnswer, QuestionAt, ResolvedUpdate, Resolver } from './transfer/resolve.js';
export { outcomesOf } from './transfer/update.js';
export type { ApplyOptions, UpdateRunOptions, UpdateRunResult } from './transfer/update.js';
export type {
  ArtifactDecisions,
  ArtifactOutcome,
  ConflictFile,
  OutcomeKind,
  ArtifactUpdatePlan,
  OperationOptions,
  UpdatePlan,
  UpdateResult,
} from './transfer/operations.js';
export { addFromSource } from './transfer/add.js';
export { ALL_MODIFIED, relockArtifacts } from './transfer/relock.js';
/** Quick fixes: put an artifact back to its locked content (discard edits, reinstall), or remove it. */
export { discardArtifacts, removeArtifacts } from './transfer/fixes.js';
export type { DiscardResult, LockedSource, RemoveResult } from './transfer/fixes.js';
export { repairCollection } from './transfer/repair.js';
export type { RepairResult } from './transfer/repair.js';
export type { RelockResult } from './transfer/relock.js';
export type { AddOptions, AddResult } from './transfer/add.js';
export { checkUpdates, loadCheckResults } from './sources/check.js';
export type { CheckResult } from './sources/check.js';
export type { PinnedInfo } from './sources/pins.js';
export { parseSource, displaySource } from './sources/sources.js';

// Snapshots
/**
 * Retention after every snapshot-creating operation (`OperationOptions.retention`; default: the newest
 * 20, no age rule). A failure of it is logged, never thrown: the operation before it has committed.
 */
export { DEFAULT_RETENTION, retentionOf } from './transfer/retention.js';
export type { Retention } from './transfer/retention.js';
/**
 * `undoLastChange` restores the last history entry's pre-snapshot (itself a transaction, kind `undo`);
 * throws `undo-unavailable` before writing anything. `describeChange` words a history entry.
 */
export {
  describeChange,
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
  undoLastChange,
} from './transfer/restore.js';
export type { RestoreResult, UndoResult } from './transfer/restore.js';
export { isSafetySnapshot } from './store/snapshotRefs.js';
export type { SnapshotInfo } from './store/snapshotRefs.js';
export type { SnapshotDiffEntry } from './store/treeDiff.js';
export { readUpstreamFile } from './store/upstreamFiles.js';
/** The executable surface (DESIGN §11): what a change adds that runs, and the yes it needs. */
export { artifactFindings, describeFinding, execFingerprint, readApprovals } from './exec/approval.js';
export type { ExecApproval, ExecFinding, ExecPolicy } from './exec/approval.js';
export { classifyFile } from './exec/rules.js';
export type { ExecRule, RuleFinding } from './exec/rules.js';
/** The snapshots holding other versions of one file, newest first, one entry per run of equal versions. */
export { snapshotFileHistory } from './transfer/fileHistory.js';
export type { FileVersion } from './transfer/fileHistory.js';

// Projects (DESIGN §10): profiles, the tracking file, drift; reads only for now
/** Profile roots (`.claude`, `.codex`, `.gemini`, `.cursor`, user `~/.claude`) and deploy paths per type. Pure. */
export {
  DEFAULT_PROFILE,
  DEPLOY_FOLDERS,
  PROFILES,
  deployPath,
  deployShape,
  isDeployable,
  parseProfile,
  projectProfileRoot,
  userProfileRoot,
} from './projects/profiles.js';
export type { ProfileId, ProfileRoot } from './projects/profiles.js';
/**
 * `.skillmeat-deployed.toml` read and written as SkillMeat does (unknown keys kept); throws
 * `toml-invalid` or `tracking-invalid` (file:line, artifact) for a malformed file or an escaping path.
 */
export {
  TRACKING_FILE,
  artifactPathProblem,
  deployedLocation,
  emptyTrackingFile,
  findRecord,
  localNaiveTime,
  parseTrackingFile,
  readTrackingFile,
  removeRecord,
  serializeTrackingFile,
  setRecord,
  trackingFilePath,
} from './projects/trackingFile.js';
export type { DeploymentRecord, RecordFields, TrackingFile } from './projects/trackingFile.js';
/** Drift of a profile root against a collection (in-sync … not-deployed); reads only. */
export { DRIFT_STATES, checkDrift, isDrift, loadDriftCaches, saveDriftCaches } from './projects/drift.js';
export { deployedSides } from './projects/deployedSides.js';
export type { DeployedFileSides, DeployedSides } from './projects/deployedSides.js';
export { DEPLOY_STRATEGIES, deployArtifacts, undeployArtifacts } from './transfer/deploy.js';
export type {
  DeployChoice,
  DeployedArtifact,
  DeployOptions,
  DeployOutcome,
  DeployStrategy,
  ProjectResult,
  UndeployedArtifact,
} from './transfer/deploy.js';
export { PULL_STRATEGIES, pullArtifacts } from './transfer/pull.js';
export type { PulledArtifact, PullOptions, PullOutcome, PullResult, PullStrategy } from './transfer/pull.js';
export type { DriftCaches, DriftEntry, DriftOptions, DriftReport, DriftState } from './projects/drift.js';
/** The collection of a project: --collection, the tracking file, SkillMeat's config, the current folder. */
export {
  activeSkillMeatCollection,
  discoverCollection,
  fromCollectionDir,
  skillMeatCollectionDir,
} from './projects/discover.js';
export type { CollectionSource, DiscoverOptions, DiscoveredCollection } from './projects/discover.js';
/** Where an artifact holds something that can run (names and modes only), for the tree's mark. */
export { executableSurface } from './exec/surface.js';
export type { SurfaceKind } from './exec/surface.js';
