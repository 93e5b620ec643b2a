/**
 * Snapshot commands: `snapshot [-m TEXT]`, `snapshots`, `restore ID|latest`, `export ID FILE`,
 * `import FILE`, `recover`, `history`. Each is a thin shell over src/core/transfer/restore.ts.
 */
import {
  exportSnapshotFile,
  importSnapshotFile,
  listSnapshots,
  readHistory,
  recoverCollection,
  restoreSnapshot,
  takeSnapshot,
} from '../../core/index.js';
import { UsageError } from '../args.js';
import { operationOptions } from '../context.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';
import { openTarget, PROJECT_FLAGS } from '../project.js';

export const snapshotCommand: CliCommand = {
  summary:
    'snapshot the collection now (then retention: the newest N unpinned, + younger than D days if set)',
  usage: 'snapshot [-m TEXT] [--pin] [--collection DIR] [--json]',
  retention: true,
  flags: {
    message: { value: true, short: 'm' },
    pin: { value: false },
  },
  async run(ctx) {
    const message = ctx.flag('message');
    const info = await takeSnapshot(
      ctx.collectionDir,
      {
        ...(message ? { message } : {}),
        trigger: 'user',
        pinned: ctx.has('pin'),
      },
      operationOptions(ctx),
    );
    if (ctx.json) ctx.printJson(info);
    else ctx.out(`snapshot ${info.id}${info.pinned ? ' (pinned)' : ''}: ${info.reason}`);
    return EXIT.ok;
  },
};

export const snapshotsCommand: CliCommand = {
  summary: 'list snapshots, newest first',
  usage: 'snapshots [--collection DIR] [--json]',
  async run(ctx) {
    const list = await listSnapshots(ctx.collectionDir, operationOptions(ctx));
    if (ctx.json) ctx.printJson({ snapshots: list });
    else {
      for (const s of list) {
        ctx.out(
          `${s.id}  ${s.time}  ${s.trigger.padEnd(8)} ${s.pinned ? 'pinned ' : ''}${s.reason}${s.artifacts.length ? ` [${s.artifacts.join(', ')}]` : ''}`,
        );
      }
      if (list.length === 0) ctx.out('no snapshots yet');
    }
    return EXIT.ok;
  },
};

export const restoreCommand: CliCommand = {
  summary:
    'restore a snapshot; latest = the newest that is not a safety snapshot (one is taken first: undo works)',
  usage: 'restore ID|latest [--collection DIR] [--json]',
  retention: true,
  async run(ctx) {
    const [id, ...extra] = ctx.args.positionals;
    if (!id || extra.length > 0) throw new UsageError('give one snapshot id, or latest');
    const result = await restoreSnapshot(ctx.collectionDir, id, operationOptions(ctx));
    if (ctx.json) ctx.printJson(result);
    else {
      ctx.out(`restored ${result.restored.id} (${result.changed} change${result.changed === 1 ? '' : 's'})`);
      // Without changes there is no transaction, so `undo` would undo the one before: name the snapshot.
      ctx.out(
        `safety snapshot: ${result.safety.id} (undo: ${result.changed > 0 ? 'artifact-keeper undo' : `artifact-keeper restore ${result.safety.id}`})`,
      );
    }
    return EXIT.ok;
  },
};

export const exportCommand: CliCommand = {
  summary: 'export one snapshot as a .tar.gz with its metadata',
  usage: 'export ID FILE [--collection DIR]',
  async run(ctx) {
    const [id, file, ...extra] = ctx.args.positionals;
    if (!id || !file || extra.length > 0) throw new UsageError('give a snapshot id and a file');
    const info = await exportSnapshotFile(ctx.collectionDir, id, file, operationOptions(ctx));
    if (ctx.json) ctx.printJson({ snapshot: info.id, file });
    else ctx.out(`exported ${info.id} to ${file}`);
    return EXIT.ok;
  },
};

export const importCommand: CliCommand = {
  summary: "import a snapshot .tar.gz (ours or SkillMeat's), or a SkillMeat snapshots folder",
  usage: 'import FILE|DIR [--collection DIR] [--json]',
  retention: true,
  async run(ctx) {
    const [file, ...extra] = ctx.args.positionals;
    if (!file || extra.length > 0) throw new UsageError('give one file or folder');
    const imported = await importSnapshotFile(ctx.collectionDir, file, operationOptions(ctx));
    if (ctx.json) ctx.printJson({ imported });
    else for (const s of imported) ctx.out(`imported ${s.id}: ${s.reason}`);
    return EXIT.ok;
  },
};

export const recoverCommand: CliCommand = {
  summary: 'undo (or finish, past its commit point) an interrupted transaction',
  usage: 'recover [--collection DIR | --project DIR | --user] [--json]',
  flags: PROJECT_FLAGS,
  async run(ctx) {
    // From a project: the collection its tracking file names (its journal covers both stores).
    const dir =
      ctx.flag('project') !== undefined || ctx.has('user')
        ? openTarget(ctx).collection.dir
        : ctx.collectionDir;
    const outcome = await recoverCollection(dir, operationOptions(ctx));
    if (ctx.json) ctx.printJson({ outcome });
    else
      ctx.out(
        outcome === 'none'
          ? 'nothing to recover'
          : outcome === 'rolled-back'
            ? 'rolled back the interrupted transaction'
            : 'finished the interrupted transaction (it had committed)',
      );
    return EXIT.ok;
  },
};

export const historyCommand: CliCommand = {
  summary: 'past transactions, newest first',
  usage: 'history [--collection DIR] [--json]',
  async run(ctx) {
    const entries = readHistory(ctx.collectionDir);
    if (ctx.json) ctx.printJson({ history: entries });
    else {
      for (const h of entries)
        ctx.out(
          `${h.txId}  ${h.time}  ${h.kind.padEnd(8)} ${h.description}${h.preSnapshot ? `  (before: ${h.preSnapshot})` : ''}`,
        );
      if (entries.length === 0) ctx.out('no history yet');
    }
    return EXIT.ok;
  },
};
