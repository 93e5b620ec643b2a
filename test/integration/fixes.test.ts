// Per-artifact quick fixes and the snapshot history of a file, in the real extension host: Discard Local
// Changes, Reinstall Missing Files and Remove from Collection (status findings, commands, when clauses of
// the tree's context menu, modal confirmation, Undo), Show Snapshot History of File, readable diff titles.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import type { TreeElement } from '../../src/extension/tree.js';
import { cliOk, outdatedCollection, removeTempDirs, writeFiles } from './support/fixtures.js';
import {
  artifact,
  closeAllEditors,
  getApi,
  hideCollections,
  installScript,
  reportFailure,
  showCollections,
  until,
} from './support/harness.js';
import type { ScriptedPrompter } from './support/scriptedPrompter.js';

const EXTENSION_ID = 'artifact-keeper.artifact-keeper';

interface MenuItem {
  command: string;
  when?: string;
}

/** The `viewItem =~ /…/` regex of a command's entry in the tree's context menu. */
function viewItemRegex(command: string): RegExp {
  const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === 'artifact-keeper');
  assert.ok(ext, EXTENSION_ID);
  const items = (ext.packageJSON.contributes.menus['view/item/context'] as MenuItem[]).filter(
    (m) => m.command === command,
  );
  assert.equal(items.length, 1, `${command} is in the context menu once`);
  const match = /viewItem =~ \/(.+)\//.exec(items[0]?.when ?? '');
  assert.ok(match?.[1], `${command}: ${items[0]?.when}`);
  return new RegExp(match[1]);
}

function contextValueOf(api: ArtifactKeeperApi, dir: string, id: string): string {
  const root = api.tree.getChildren().find((e) => e.dir === dir);
  for (const group of api.tree.getChildren(root)) {
    for (const element of api.tree.getChildren(group)) {
      const e = element as TreeElement & { artifact?: string };
      if (e.kind === 'artifact' && e.artifact === id) return String(api.tree.getTreeItem(e).contextValue);
    }
  }
  throw new Error(`no tree item for ${id}`);
}

function lastHistoryKind(dir: string): string {
  const lines = fs
    .readFileSync(path.join(dir, '.artifact-keeper', 'history.jsonl'), 'utf8')
    .trim()
    .split('\n');
  return (JSON.parse(lines.pop() ?? '{}') as { kind?: string }).kind ?? '';
}

function activeTabLabel(): string | undefined {
  return vscode.window.tabGroups.activeTabGroup.activeTab?.label;
}

describe('quick fixes and file history', function () {
  this.timeout(90_000);
  let api: ArtifactKeeperApi;
  let script: ScriptedPrompter;

  before(async () => {
    api = await getApi();
  });
  beforeEach(() => {
    script = installScript(api);
  });
  afterEach(async function () {
    reportFailure(this.currentTest, script, api);
    await closeAllEditors();
    await hideCollections(api);
    removeTempDirs();
  });

  it('Discard Local Changes from the status findings: asks in a modal, puts the locked content back, Undo brings the edit back', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    const file = path.join(s.collection, 'skills/pdf/SKILL.md');
    const edited = fs.readFileSync(file, 'utf8');
    assert.equal(artifact(api.store.find(s.collection)!, 'skill/pdf')?.state, 'modified');
    script.answers.set(
      'pickFix',
      (items) => items.find((i) => i.description === 'Discard local changes')?.value,
    );
    script.answers.set('confirmDiscard', true);
    script.press = (n) => (n.id === 'fix-done' ? 'undo' : undefined);
    await vscode.commands.executeCommand('artifactKeeper.showStatus');
    const confirm = script.asked.find((a) => a.id === 'confirmDiscard');
    assert.ok(confirm?.modal, 'a modal confirmation');
    assert.equal(confirm?.text, 'Discard the local changes of pdf?');
    const done = await script.notice((n) => n.id === 'fix-done');
    assert.match(done.message, /^pdf: local changes discarded \(1 file\(s\), from the stored upstream\)\.$/);
    // The notification's Undo was pressed: the core's undo of that transaction brings the edit back.
    await until(api, 'the edit is back', () => fs.readFileSync(file, 'utf8') === edited);
    assert.equal(lastHistoryKind(s.collection), 'undo');
    await until(
      api,
      'pdf reads modified again',
      () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'modified',
    );
  });

  it('Discard Local Changes cancelled in the modal changes nothing', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    const file = path.join(s.collection, 'skills/pdf/SKILL.md');
    const edited = fs.readFileSync(file, 'utf8');
    script.answers.set('confirmDiscard', false);
    const result = await vscode.commands.executeCommand('artifactKeeper.discardChanges', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    assert.equal(result, undefined);
    assert.equal(fs.readFileSync(file, 'utf8'), edited);
    assert.equal(lastHistoryKind(s.collection), 'add', 'no transaction');
  });

  it('Reinstall Missing Files puts a deleted artifact back without asking; it reads clean', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    const before = fs.readFileSync(path.join(s.collection, 'commands/review.md'), 'utf8');
    fs.rmSync(path.join(s.collection, 'commands/review.md'));
    await until(
      api,
      'review missing',
      () => artifact(api.store.find(s.collection)!, 'command/review')?.state === 'missing',
    );
    assert.match(
      contextValueOf(api, s.collection, 'command/review'),
      viewItemRegex('artifactKeeper.reinstall'),
    );
    await vscode.commands.executeCommand('artifactKeeper.reinstall', {
      collection: s.collection,
      artifact: 'command/review',
    });
    assert.equal(script.asked.filter((a) => a.kind === 'confirm').length, 0, 'nothing is lost: no question');
    assert.equal(fs.readFileSync(path.join(s.collection, 'commands/review.md'), 'utf8'), before);
    await until(
      api,
      'review clean',
      () => artifact(api.store.find(s.collection)!, 'command/review')?.state === 'clean',
    );
    assert.equal(lastHistoryKind(s.collection), 'discard');
  });

  it('Remove from Collection drops entry, lock and files after a modal confirmation; undo brings it back', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('confirmRemove', true);
    await vscode.commands.executeCommand('artifactKeeper.removeArtifact', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    assert.ok(script.asked.find((a) => a.id === 'confirmRemove')?.modal);
    assert.equal(fs.existsSync(s.skill), false);
    await until(api, 'pdf gone', () => artifact(api.store.find(s.collection)!, 'skill/pdf') === undefined);
    assert.equal(api.store.find(s.collection)?.report?.state, 'clean');
    await vscode.commands.executeCommand('artifactKeeper.undo', s.collection);
    assert.ok(fs.existsSync(path.join(s.skill, 'SKILL.md')));
    await until(
      api,
      'pdf back',
      () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'clean',
    );
  });

  it('the context menu offers each fix only where it applies (when clauses against the tree items)', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    const discard = viewItemRegex('artifactKeeper.discardChanges');
    const reinstall = viewItemRegex('artifactKeeper.reinstall');
    const remove = viewItemRegex('artifactKeeper.removeArtifact');
    const modified = contextValueOf(api, s.collection, 'skill/pdf');
    const clean = contextValueOf(api, s.collection, 'command/review');
    assert.equal(modified, 'artifact;modified;upstream');
    assert.ok(discard.test(modified) && !reinstall.test(modified) && remove.test(modified), modified);
    assert.ok(!discard.test(clean) && !reinstall.test(clean) && remove.test(clean), clean);
    const collectionItem = api.tree.getTreeItem(api.tree.getChildren().find((e) => e.dir === s.collection)!);
    assert.ok(!remove.test(String(collectionItem.contextValue)), 'not on the collection row');
  });

  it('Show Snapshot History of File lists the other versions and opens a diff titled with file, time and now', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    const rel = 'skills/pdf/SKILL.md';
    writeFiles(s.collection, { [rel]: 'first local version\n' });
    cliOk(['snapshot', '-m', 'first', '--collection', s.collection]);
    writeFiles(s.collection, { [rel]: 'second local version\n' });
    cliOk(['snapshot', '-m', 'second', '--collection', s.collection]);
    writeFiles(s.collection, { [rel]: 'now\n' });
    let offered: string[] = [];
    script.answers.set('pickFileSnapshot', (items) => {
      offered = items.map((i) => `${i.label} | ${i.detail ?? ''}`);
      return items[1]?.value;
    });
    const result = (await vscode.commands.executeCommand(
      'artifactKeeper.showFileHistory',
      vscode.Uri.file(path.join(s.collection, rel)),
    )) as { title?: string; versions: unknown[] };
    assert.equal(result.versions.length, 3, offered.join('\n'));
    assert.match(offered[0] ?? '', /\| second$/);
    assert.match(offered[1] ?? '', /\| first$/);
    assert.match(
      offered[2] ?? '',
      /\| before adding command\/review$/,
      'the upstream version, before the next add',
    );
    assert.match(result.title ?? '', /^pdf\/SKILL\.md \(snapshot \d{4}-\d\d-\d\d \d\d:\d\d ↔ now\)$/);
    await until(api, 'the diff tab', () => activeTabLabel() === result.title);
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff);
    const left = await vscode.workspace.openTextDocument(tab.input.original);
    assert.equal(left.getText(), 'first local version\n');
  });

  it('diff titles name the artifact and both versions, never a path or a raw hash', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    await vscode.commands.executeCommand('artifactKeeper.showDiff', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    await until(api, 'a diff tab', () => activeTabLabel() !== undefined);
    const label = activeTabLabel() ?? '';
    // The upstream is tracked by branch here, so its version is the short commit; the multi-file diff
    // editor adds the file count.
    assert.match(label, /^pdf \([0-9a-f]{7} ↔ local\)( \(3 files\))?$/);
    assert.doesNotMatch(label, /\/tmp|[0-9a-f]{40}/);
  });
});
