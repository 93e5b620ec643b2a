/**
 * The command table: one line per command. Each command lives in its own file beside this one.
 */
import type { CliCommand } from '../main.js';
import { initCommand } from './init.js';
import { statusCommand } from './status.js';

export const COMMANDS: Record<string, CliCommand> = {
  init: initCommand,
  status: statusCommand,
};
