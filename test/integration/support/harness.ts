/**
 * Getting at the extension under test and waiting for its state, the way another extension would: by
 * activating it, reading its API and listening to its store's events (no sleeping).
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../../src/extension/api.js';
import type { CollectionModel } from '../../../src/extension/store.js';
import { ScriptedPrompter } from './scriptedPrompter.js';
import { removeTempDirs } from './fixtures.js';

export const EXTENSION_ID = 'artifact-keeper.artifact-keeper';

export async function getApi(): Promise<ArtifactKeeperApi> {
  const extension = vscode.extensions.getExtension<ArtifactKeeperApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed`);
  return extension.activate();
}

/** Resolves when `predicate` holds, re-evaluated on every store event; rejects after `timeoutMs` with `what`. */
export function until<T>(
  api: ArtifactKeeperApi,
  what: string,
  predicate: () => T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const now = predicate();
  if (now) return Promise.resolve(now);
  const store = api.store;
  return new Promise((resolve, reject) => {
    const subscriptions: vscode.Disposable[] = [];
    const done = (): void => subscriptions.forEach((s) => s.dispose());
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(`timed out after ${timeoutMs} ms waiting for ${what}; status bar: ${api.statusBar().text}`),
      );
    }, timeoutMs);
    const check = (): void => {
      const value = predicate();
      if (!value) return;
      clearTimeout(timer);
      done();
      resolve(value);
    };
    subscriptions.push(
      store.onDidChangeCollection(check),
      store.onDidChangeCollections(check),
      store.onDidChangeOperation(check),
      api.deployed.onDidChangeProjects(check),
    );
  });
}

/** Shows the collection folders (through the extraCollections setting) and waits until each has been checked. */
export async function showCollections(api: ArtifactKeeperApi, ...dirs: string[]): Promise<CollectionModel[]> {
  await vscode.workspace
    .getConfiguration('artifactKeeper')
    .update('extraCollections', dirs, vscode.ConfigurationTarget.Global);
  const shown = await Promise.all(
    dirs.map((dir) =>
      until(api, `collection ${path.basename(dir)} to be checked`, () => {
        const found = api.store.find(dir);
        return found?.checked ? found : undefined;
      }),
    ),
  );
  // A new file watcher reports nothing for a moment after it is created, and VS Code has no "ready"
  // event for it; tests that edit files right away would otherwise race it.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return shown;
}

export async function hideCollections(api: ArtifactKeeperApi): Promise<void> {
  await vscode.workspace
    .getConfiguration('artifactKeeper')
    .update('extraCollections', undefined, vscode.ConfigurationTarget.Global);
  await until(api, 'no collections', () => api.store.collections.length === 0);
}

/** A fresh script for every test, installed into the extension. */
export function installScript(api: ArtifactKeeperApi): ScriptedPrompter {
  const script = new ScriptedPrompter();
  api.installPrompter(script);
  return script;
}

/** The collection's artifact report, found by id. */
export function artifact(collection: CollectionModel, id: string) {
  return collection.report?.artifacts.find((a) => a.id === id);
}

export async function closeAllEditors(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

export async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace
    .getConfiguration('artifactKeeper')
    .update(key, value, vscode.ConfigurationTarget.Global);
}

/** The merge editor's tab for a result file (its tab input is not in the stable API; duck-typed). */
/** The result file of a merge editor tab (undefined: not a merge editor). */
export function mergeTabOf(tab: vscode.Tab): vscode.Uri | undefined {
  const input = tab.input as { result?: unknown; input1?: unknown } | undefined;
  if (input && typeof input === 'object' && 'input1' in input && input.result instanceof vscode.Uri)
    return input.result;
  return undefined;
}

export function mergeTab(output: vscode.Uri): vscode.Tab | undefined {
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      if (mergeTabOf(tab)?.toString() === output.toString()) return tab;
    }
  }
  return undefined;
}

/** Resolves with the merge editor's tab for `output` once it is open. */
export async function untilMergeTab(output: vscode.Uri): Promise<vscode.Tab> {
  const start = Date.now();
  for (;;) {
    const tab = mergeTab(output);
    if (tab) return tab;
    if (Date.now() - start > 20_000) throw new Error('the merge editor did not open');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves when `predicate` holds for the document, re-checked on every change of it. */
function untilDocument(
  document: vscode.TextDocument,
  what: string,
  predicate: (text: string) => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  if (predicate(document.getText())) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      reject(new Error(`timed out waiting for ${what}; text: ${JSON.stringify(document.getText())}`));
    }, timeoutMs);
    const subscription = vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document !== document || !predicate(document.getText())) return;
      clearTimeout(timer);
      subscription.dispose();
      resolve();
    });
  });
}

/**
 * Plays the person in the merge editor: waits for it to open on `output` and to write its starting
 * result (it replaces the conflict-marker proposal with base + the clean changes), types the resolution,
 * saves, and closes the editor, as "Complete Merge" does. Returns the starting text it saw. `unsaved`:
 * the starting result is saved (as an auto-save would), then the resolution typed but neither saved nor
 * the editor closed, as when Complete Merge reports the merge complete before its save has landed.
 */
export async function resolveInMergeEditor(
  output: vscode.Uri,
  resolution: string,
  { unsaved = false } = {},
): Promise<string> {
  const start = Date.now();
  while (!mergeTab(output)) {
    if (Date.now() - start > 20_000) throw new Error('the merge editor did not open');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const document = await vscode.workspace.openTextDocument(output);
  await untilDocument(document, 'the merge editor to take over the result', (text) => !/^<{7} /m.test(text));
  const seen = document.getText();
  // As an auto-save would: the starting result saved, the resolution typed after it.
  if (unsaved && document.isDirty) await document.save();
  const edit = new vscode.WorkspaceEdit();
  edit.replace(output, new vscode.Range(0, 0, document.lineCount, 0), resolution);
  await vscode.workspace.applyEdit(edit);
  if (unsaved) return seen;
  await document.save();
  const tab = mergeTab(output);
  if (tab) await vscode.window.tabGroups.close(tab);
  return seen;
}

/** For `afterEach`: prints what the person would have seen when a test failed. */
export function reportFailure(
  test: Mocha.Test | undefined,
  script: ScriptedPrompter | undefined,
  api: ArtifactKeeperApi | undefined,
): void {
  if (test?.state !== 'failed') return;
  console.log(`      notifications: ${JSON.stringify(script?.notices.map((n) => n.message) ?? [])}`);
  console.log(
    `      questions: ${JSON.stringify(script?.asked.map((a) => `${a.kind}:${a.id ?? ''}:${a.text}`) ?? [])}`,
  );
  if (api) console.log(`      status bar: ${api.statusBar().text}`);
}

/**
 * The hooks every scripted suite needs: the API once, a fresh scripted prompter per test, and after
 * each test a report if it failed, `cleanup` (settings the suite changed), closed editors, no
 * collections shown and no temp folders left. `bind` receives the API and each test's prompter.
 */
export function useScriptedHarness(
  bind: (api: ArtifactKeeperApi, script: ScriptedPrompter) => void,
  cleanup?: (api: ArtifactKeeperApi) => Promise<void>,
): void {
  let api: ArtifactKeeperApi | undefined;
  let script: ScriptedPrompter | undefined;
  before(async () => {
    api = await getApi();
  });
  beforeEach(() => {
    script = installScript(api as ArtifactKeeperApi);
    bind(api as ArtifactKeeperApi, script);
  });
  afterEach(async function () {
    reportFailure(this.currentTest, script, api);
    if (!api) return;
    await cleanup?.(api);
    await closeAllEditors();
    await hideCollections(api);
    removeTempDirs();
  });
}
