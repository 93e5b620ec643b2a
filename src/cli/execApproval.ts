/**
 * The CLI's yes for executable changes (DESIGN §11): `--allow-exec`, or a question on a terminal. The
 * findings are printed as their own section either way, on stderr, so a refused run (exit 6) shows what
 * it refused.
 */
import * as os from 'node:os';
import * as readline from 'node:readline/promises';
import { describeFinding } from '../core/index.js';
import type { ExecFinding, ExecPolicy } from '../core/index.js';
import type { CliContext } from './context.js';

/** The section a plan's findings print as: a heading, then one line each. */
export function printFindings(
  ctx: CliContext,
  findings: readonly ExecFinding[],
  print: (line: string) => void,
): void {
  if (findings.length === 0) return;
  const artifacts = new Set(findings.map((f) => f.artifact));
  print(`executable changes (${findings.length} in ${[...artifacts].join(', ')}): these run code`);
  for (const f of findings) print(`  ${f.artifact}: ${describeFinding(f)}`);
}

export function execPolicy(ctx: CliContext): ExecPolicy {
  const user = safeUser();
  if (ctx.has('allow-exec')) return { allow: true, user };
  return {
    user,
    approve: async (findings) => {
      printFindings(ctx, findings, (line) => ctx.err(line));
      if (!ctx.isTerminal) return false;
      ctx.cannotAsk?.();
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = (await rl.question('apply these executable changes? [y/N] ')).trim().toLowerCase();
        return answer === 'y' || answer === 'yes';
      } finally {
        rl.close();
      }
    },
  };
}

function safeUser(): string {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}@${os.hostname()}`;
  }
}
