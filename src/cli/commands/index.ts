/**
 * The command table: one line per command. Each command lives in its own file beside this one.
 */
import type { CliCommand } from '../main.js';
import { addCommand } from './add.js';
import { checkCommand } from './check.js';
import { daemonCommand } from './daemon.js';
import { discardCommand, reinstallCommand, removeCommand } from './fixes.js';
import { driftCommand } from './drift.js';
import { deployCommand, pullCommand, undeployCommand } from './deploy.js';
import { initCommand } from './init.js';
import { relockCommand } from './relock.js';
import { repairCommand } from './repair.js';
import { resolveCommand } from './resolve.js';
import {
  exportCommand,
  historyCommand,
  importCommand,
  recoverCommand,
  restoreCommand,
  snapshotCommand,
  snapshotsCommand,
} from './snapshots.js';
import { statusCommand } from './status.js';
import { undoCommand } from './undo.js';
import { unlockCommand } from './unlock.js';
import { updateCommand } from './update.js';

export const COMMANDS: Record<string, CliCommand> = {
  init: initCommand,
  status: statusCommand,
  check: checkCommand,
  update: updateCommand,
  resolve: resolveCommand,
  add: addCommand,
  snapshot: snapshotCommand,
  snapshots: snapshotsCommand,
  restore: restoreCommand,
  undo: undoCommand,
  export: exportCommand,
  import: importCommand,
  recover: recoverCommand,
  relock: relockCommand,
  discard: discardCommand,
  reinstall: reinstallCommand,
  remove: removeCommand,
  repair: repairCommand,
  history: historyCommand,
  drift: driftCommand,
  deploy: deployCommand,
  undeploy: undeployCommand,
  pull: pullCommand,
  unlock: unlockCommand,
  daemon: daemonCommand,
};
