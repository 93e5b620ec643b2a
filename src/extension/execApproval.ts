/**
 * The extension's yes for executable changes (DESIGN §11): a modal listing every finding, with "Show
 * Changes" opening their diffs before anything is decided. A workspace that is not trusted (Restricted
 * Mode) never approves: nothing that runs arrives there.
 */
import * as os from 'node:os';
import * as vscode from 'vscode';
import { describeFinding } from '../core/index.js';
import type { ExecFinding, ExecPolicy } from '../core/index.js';
import type { Services } from './services.js';

const t = vscode.l10n.t;

/** The policy an update or add runs with; `show` opens the findings' diffs (absent: no diffs to show). */
export function execPolicy(
  services: Services,
  show?: (findings: readonly ExecFinding[]) => Promise<void>,
): ExecPolicy {
  return {
    user: userName(),
    approve: async (findings) => {
      const lines = findings.map((f) => `${f.artifact}: ${describeFinding(f)}`);
      for (const line of lines) services.log.warn(`[Exec] ${line}`);
      if (!vscode.workspace.isTrusted) {
        services.log.warn('[Exec] not approved: the workspace is not trusted (Restricted Mode)');
        return false;
      }
      const artifacts = [...new Set(findings.map((f) => f.artifact.split('/').pop() ?? f.artifact))];
      for (;;) {
        const answer = await services.prompter.approveExec({
          message: t('{0}: {1} executable change(s). Apply them?', artifacts.join(', '), findings.length),
          findings: lines,
          canShow: show !== undefined,
        });
        if (answer === 'show' && show) {
          await show(findings);
          continue;
        }
        services.log.info(
          `[Exec] ${answer === 'apply' ? 'approved' : 'not approved'}: ${lines.length} finding(s)`,
        );
        return answer === 'apply';
      }
    },
  };
}

function userName(): string {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return os.hostname();
  }
}
