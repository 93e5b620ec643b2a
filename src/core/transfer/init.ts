/**
 * Creating an empty collection: the folders SkillMeat's `init` makes and the two TOML files, applied by
 * the transaction engine under the writer lock like every other change to a collection (so a crash
 * leaves nothing half-made, and the history records it). Refuses a folder that already holds a
 * collection, and one inside a collection: a nested collection would be silently treated as part of
 * the outer one's tree by SkillMeat and by our own walk up from the working folder.
 */
import * as path from 'node:path';
import { nameProblem } from '../model/artifact.js';
import { CoreError } from '../base/errors.js';
import type { FileChange } from '../base/changes.js';
import { emptyLock, LOCK_FILE, serializeLock } from '../model/lock.js';
import { MANIFEST_FILE, newManifest, serializeManifest } from '../model/manifest.js';
import { findCollectionDir } from '../model/collection.js';
import { naiveUtcNow } from '../base/time.js';
import { applyChanges, newTxId, withWriter } from '../txn/transaction.js';
import type { OperationOptions } from './operations.js';
import { clockOf, transactionOptions, writerOptions } from './operations.js';
import { silentLogger } from '../base/changes.js';

/** The folders of SkillMeat's layout that `init` creates. */
const LAYOUT_FOLDERS = ['skills', 'commands', 'agents', 'workflows'];

export interface InitOptions extends Omit<OperationOptions, 'logger' | 'tool'> {
  name: string;
  /** Default: silent. */
  logger?: OperationOptions['logger'];
  /** Recorded in the writer lock and the history. Default `artifact-keeper`. */
  tool?: string;
}

/**
 * Creates the collection `name` in `dir` (made if missing). Throws `artifact-name-invalid`,
 * `collection-exists` (here, or `nestedIn` a collection above `dir`) before anything is written, then
 * what the writer lock and the transaction throw (`locked`, `io-failed`…).
 */
export async function initCollection(dir: string, options: InitOptions): Promise<void> {
  const root = path.resolve(dir);
  const problem = nameProblem(options.name);
  if (problem) throw new CoreError({ code: 'artifact-name-invalid', name: options.name, reason: problem });
  refuseExisting(root);
  const opts: OperationOptions = {
    ...options,
    logger: options.logger ?? silentLogger,
    tool: options.tool ?? 'artifact-keeper',
  };
  // The writer lock lives inside the folder, so the folder comes first (recursive: `init` of a new path).
  await opts.fs.mkdir(root);
  await withWriter(root, writerOptions(opts, 'init'), async () => {
    // Again under the lock: another `init` may have won the race.
    refuseExisting(root);
    const now = naiveUtcNow(clockOf(opts).now());
    const changes: FileChange[] = [
      ...LAYOUT_FOLDERS.map((rel): FileChange => ({ kind: 'mkdir', rel })),
      {
        kind: 'write',
        rel: MANIFEST_FILE,
        data: Buffer.from(serializeManifest(newManifest(options.name, now))),
        mode: 0o644,
      },
      // Last: the lock's rename is the commit point.
      { kind: 'write', rel: LOCK_FILE, data: Buffer.from(serializeLock(emptyLock())), mode: 0o644 },
    ];
    await applyChanges(
      root,
      {
        txId: newTxId(clockOf(opts).now().getTime()),
        kind: 'init',
        description: `init ${options.name}`,
        artifacts: [],
        changes,
        tool: opts.tool,
      },
      transactionOptions(opts),
    );
  });
}

/** `collection-exists` when `root` or a folder above it holds a `collection.toml`. */
function refuseExisting(root: string): void {
  const found = findCollectionDir(root);
  if (found === undefined) return;
  throw new CoreError({
    code: 'collection-exists',
    dir: root,
    ...(found !== root ? { nestedIn: found } : {}),
  });
}
