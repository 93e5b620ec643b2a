// TEMPORARY placeholder (created by the test-infrastructure work because src/extension/main.ts did not
// exist yet); the real extension entry point replaces it.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Artifact Keeper', { log: true });
  context.subscriptions.push(log);
  log.info('activated');
}

export function deactivate(): void {}
