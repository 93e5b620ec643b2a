/**
 * "Complete Merge" for our merges, as git's extension does it for its own: a merge editor's result counts
 * as resolved only when the person completes the merge through `artifactKeeper.completeMerge` (the ✓
 * button in the editor title, Ctrl/Cmd+Enter, or the palette), which runs VS Code's own Complete Merge
 * (it asks about conflicts still unhandled, saves the result and closes the editor). Closing the tab by
 * any other way — its X, "Save with Conflicts", "Don't Save", closing the window — never counts: the
 * result the merge editor saved then holds the *base* text wherever a conflict was not handled, and
 * taking it would lose both sides' edits.
 */
import * as vscode from 'vscode';

export interface MergeFinish {
  result: vscode.Uri;
  /** True when VS Code's Complete Merge went through (false: the person backed out of its dialog). */
  completed: boolean;
}

/** The result file of a merge editor tab (its input class is not in the stable API, but is there at run time). */
export function mergeResultOf(tab: vscode.Tab | undefined): vscode.Uri | undefined {
  const input = tab?.input as { result?: unknown; input1?: unknown } | undefined;
  if (typeof input !== 'object' || input === null || !('input1' in input)) return undefined;
  return input.result instanceof vscode.Uri ? input.result : undefined;
}

/** The merge editor's tab for a result file. */
export function isMergeTabFor(tab: vscode.Tab, result: vscode.Uri): boolean {
  return mergeResultOf(tab)?.toString() === result.toString();
}

export function mergeTabOpen(result: vscode.Uri): boolean {
  return vscode.window.tabGroups.all.some((group) => group.tabs.some((tab) => isMergeTabFor(tab, result)));
}

export class MergeCompletions implements vscode.Disposable {
  private readonly completing = new Set<string>();
  private readonly emitter = new vscode.EventEmitter<MergeFinish>();
  /** Fires after every Complete Merge run through our command, completed or not. */
  readonly onDidFinish = this.emitter.event;

  /** True while our Complete Merge of `result` runs: its tab closing is then the completion, not a close. */
  isCompleting(result: vscode.Uri): boolean {
    return this.completing.has(result.toString());
  }

  /**
   * Completes the merge in the active merge editor through VS Code's own command. Returns the result file
   * and whether it completed, or undefined when the active editor is not a merge editor.
   */
  async complete(): Promise<MergeFinish | undefined> {
    const result = mergeResultOf(vscode.window.tabGroups.activeTabGroup.activeTab);
    if (!result) return undefined;
    const key = result.toString();
    this.completing.add(key);
    let completed = false;
    try {
      const answer = await vscode.commands.executeCommand<{ successful?: boolean } | undefined>(
        'mergeEditor.acceptMerge',
      );
      completed = answer?.successful === true;
    } finally {
      this.completing.delete(key);
      this.emitter.fire({ result, completed });
    }
    return { result, completed };
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
