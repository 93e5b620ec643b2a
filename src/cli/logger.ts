/**
 * The CLI's logger: silent unless ARTIFACT_KEEPER_LOG=debug|trace|info, then lines on stderr.
 */
import type { Logger } from '../core/index.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export function cliLogger(write: (text: string) => void = (text) => process.stderr.write(text)): Logger {
  const wanted = process.env.ARTIFACT_KEEPER_LOG;
  const threshold = wanted ? LEVELS.indexOf(wanted as (typeof LEVELS)[number]) : LEVELS.indexOf('warn');
  const line =
    (level: (typeof LEVELS)[number]) =>
    (message: string | Error, ...args: unknown[]): void => {
      if (LEVELS.indexOf(level) < (threshold < 0 ? 3 : threshold)) return;
      const text = message instanceof Error ? (message.stack ?? message.message) : message;
      write(`[${level}] ${[text, ...args.map(String)].join(' ')}\n`);
    };
  return {
    trace: line('trace'),
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
}
