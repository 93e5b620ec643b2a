// The files of an artifact that needs attention: file rows with git-like letters (M, A, D, C) from our
// FileDecorationProvider, a diff of the locked content against the working file, the view's badge, and
// the artifact's hover (source, version, state in words, changed files).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import type { ArtifactDetails } from '../../src/extension/artifactFiles.js';
import type { TreeElement } from '../../src/extension/tree.js';
import {
  cli,
  outdatedCollection,
  read,
  removeTempDirs,
  skillMd,
  V1,
  writeFiles,
} from './support/fixtures.js';
import {
  closeAllEditors,
  getApi,
  hideCollections,
  mergeTab,
  resolveInMergeEditor,
  showCollections,
  until,
  useScriptedHarness,
} from './support/harness.js';
import type { ScriptedPrompter } from './support/scriptedPrompter.js';

/** Resolves when the artifact's computed file list satisfies `predicate`. */
function untilFiles(
  api: ArtifactKeeperApi,
  dir: string,
  id: string,
  predicate: (details: ArtifactDetails | undefined) => boolean,
  timeoutMs = 20_000,
): Promise<ArtifactDetails | undefined> {
  const now = api.tree.files.peek(dir, id);
  if (predicate(now)) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      reject(
        new Error(
          `timed out waiting for the files of ${id}: ${JSON.stringify(api.tree.files.peek(dir, id))}`,
        ),
      );
    }, timeoutMs);
    const check = (): void => {
      const details = api.tree.files.peek(dir, id);
      if (!predicate(details)) return;
      clearTimeout(timer);
      subscription.dispose();
      resolve(details);
    };
    const subscription = vscode.Disposable.from(
      api.tree.files.onDidChangeArtifact(check),
      api.store.onDidChangeCollection(check),
    );
  });
}

function artifactElement(api: ArtifactKeeperApi, dir: string, type: string, id: string): TreeElement {
  const root = api.tree.getChildren().find((e) => e.dir === dir);
  assert.ok(root);
  const group = api.tree.getChildren(root).find((e) => e.kind === 'group' && e.type === type);
  assert.ok(group);
  const element = api.tree.getChildren(group).find((e) => e.kind === 'artifact' && e.artifact === id);
  assert.ok(element, id);
  return element;
}

/** The commands of the tree's context menu (inline ones marked so) whose `viewItem` regex matches. */
function menuFor(contextValue: string): string[] {
  const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === 'artifact-keeper');
  assert.ok(ext);
  const items = ext.packageJSON.contributes.menus['view/item/context'] as {
    command: string;
    when: string;
    group?: string;
  }[];
  return items
    .filter((item) => {
      const match = /viewItem =~ \/(.+?)\//.exec(item.when);
      return match?.[1] !== undefined && new RegExp(match[1]).test(contextValue);
    })
    .map((item) => `${item.group?.startsWith('inline') ? 'inline ' : ''}${item.command}`);
}

describe('artifact files: letters, decorations, badge, hover', function () {
  this.timeout(90_000);
  let api: ArtifactKeeperApi;

  before(async () => {
    api = await getApi();
  });
  afterEach(async () => {
    await closeAllEditors();
    await hideCollections(api);
    removeTempDirs();
  });

  it('a modified artifact expands into M, A and D files, lettered by the decoration provider, each opening a diff', async () => {
    const { collection, upstream } = outdatedCollection('separate');
    writeFiles(collection, { 'skills/pdf/notes/extra.md': 'mine\n' });
    fs.rmSync(path.join(collection, 'skills/pdf/reference.md'));
    const [model] = await showCollections(api, collection);
    assert.equal(model?.report?.artifacts.find((a) => a.id === 'skill/pdf')?.state, 'modified');
    await untilFiles(api, collection, 'skill/pdf', (d) => d?.files.length === 3);

    const pdf = artifactElement(api, collection, 'skill', 'skill/pdf');
    const pdfItem = api.tree.getTreeItem(pdf);
    assert.equal(pdfItem.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    const files = api.tree.getChildren(pdf);
    const rows = files.map((f) => {
      assert.equal(f.kind, 'file');
      const item = api.tree.getTreeItem(f);
      const decoration = api.tree.files.provideFileDecoration(item.resourceUri!);
      return `${decoration?.badge} ${String(item.label)} ${String(item.description ?? '')}`.trim();
    });
    assert.deepEqual(rows, ['M SKILL.md', 'A extra.md notes', 'D reference.md']);
    for (const f of files) assert.equal(api.tree.getParent(f), pdf);

    // The decoration answers for the file's own URI, so the Explorer shows the same letter and color.
    const skillUri = vscode.Uri.file(path.join(collection, 'skills/pdf/SKILL.md'));
    const decoration = api.tree.files.provideFileDecoration(skillUri);
    assert.equal(decoration?.badge, 'M');
    assert.equal(
      (decoration?.color as vscode.ThemeColor | undefined)?.id,
      'gitDecoration.modifiedResourceForeground',
    );
    const deleted = api.tree.files.provideFileDecoration(
      vscode.Uri.file(path.join(collection, 'skills/pdf/reference.md')),
    );
    assert.equal(
      (deleted?.color as vscode.ThemeColor | undefined)?.id,
      'gitDecoration.deletedResourceForeground',
    );
    assert.equal(
      api.tree.files.provideFileDecoration(vscode.Uri.file(path.join(collection, 'commands/review.md'))),
      undefined,
      'a clean file has no letter',
    );

    // A click opens locked ↔ working in a diff editor.
    const skillItem = api.tree.getTreeItem(files[0] as TreeElement);
    assert.equal(skillItem.command?.command, 'vscode.diff');
    await vscode.commands.executeCommand(skillItem.command!.command, ...(skillItem.command!.arguments ?? []));
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, 'a diff editor is open');
    assert.equal(tab.input.modified.fsPath, skillUri.fsPath);
    const locked = await vscode.workspace.openTextDocument(tab.input.original);
    assert.equal(locked.getText(), V1['skills/pdf/SKILL.md']);

    // The hover: source spec, version with a short sha, the state in words, the changed files.
    const tooltip = await api.tree.artifactTooltip(pdf as TreeElement & { kind: 'artifact' });
    const text = tooltip?.value ?? '';
    assert.ok(text.includes(`Source: \`${upstream.dir}#skills/pdf\``), text);
    assert.match(text, /Version: `[0-9a-f]{7}`/);
    assert.match(text, /Modified: the files differ from the locked content\./);
    assert.match(text, /3 files changed:/);
    assert.match(text, /- M `SKILL\.md`\n- A `notes\/extra\.md`\n- D `reference\.md`/);
    assert.doesNotMatch(text, /[0-9a-f]{12}/, 'no long hashes');
  });

  it('counts the artifacts that need attention in the view badge, lists up to ten files in the hover, and clears when clean', async () => {
    const { collection } = outdatedCollection('separate');
    const [model] = await showCollections(api, collection);
    assert.equal(model?.report?.state, 'modified');
    await until(api, 'badge 1', () => api.tree.view.badge?.value === 1);
    assert.equal(api.tree.view.badge?.tooltip, '1 artifact needs attention');

    const extras: Record<string, string> = {};
    for (let i = 0; i < 12; i++) extras[`skills/pdf/extra${String(i).padStart(2, '0')}.md`] = `extra ${i}\n`;
    writeFiles(collection, { ...extras, 'commands/review.md': 'edited\n' });
    await until(api, 'badge 2', () => api.tree.view.badge?.value === 2);
    assert.equal(api.tree.view.badge?.tooltip, '2 artifacts need attention');
    await untilFiles(api, collection, 'skill/pdf', (d) => d?.files.length === 13);
    const pdf = artifactElement(api, collection, 'skill', 'skill/pdf');
    const text = (await api.tree.artifactTooltip(pdf as TreeElement & { kind: 'artifact' }))?.value ?? '';
    assert.match(text, /13 files changed:/);
    assert.equal(text.match(/^- [MADC] /gm)?.length, 10, text);
    assert.match(text, /and 3 more/);
    // A single-file artifact lists itself.
    await untilFiles(api, collection, 'command/review', (d) => d?.files.length === 1);
    const review = artifactElement(api, collection, 'command', 'command/review');
    const [reviewFile] = api.tree.getChildren(review);
    assert.ok(reviewFile);
    const reviewItem = api.tree.getTreeItem(reviewFile);
    assert.equal(reviewItem.resourceUri?.fsPath, path.join(collection, 'commands/review.md'));
    assert.equal(api.tree.files.provideFileDecoration(reviewItem.resourceUri!)?.badge, 'M');

    // Back to the locked content: no badge, no letters, nothing to expand.
    for (const rel of Object.keys(extras)) fs.rmSync(path.join(collection, rel));
    writeFiles(collection, {
      'skills/pdf/SKILL.md': V1['skills/pdf/SKILL.md'],
      'commands/review.md': V1['commands/review.md'],
    });
    await until(api, 'clean', () => api.store.find(collection)?.report?.state === 'clean');
    await until(api, 'no badge', () => api.tree.view.badge === undefined || undefined);
    await untilFiles(api, collection, 'skill/pdf', (d) => d === undefined);
    assert.equal(
      api.tree.files.provideFileDecoration(vscode.Uri.file(path.join(collection, 'skills/pdf/SKILL.md'))),
      undefined,
    );
    assert.equal(api.tree.getTreeItem(pdf).collapsibleState, vscode.TreeItemCollapsibleState.None);
  });

  it('a conflicted file is C', async () => {
    const { collection } = outdatedCollection('none');
    writeFiles(collection, {
      'skills/pdf/SKILL.md': `${V1['skills/pdf/SKILL.md']}<<<<<<< local\nmine\n=======\ntheirs\n>>>>>>> upstream\n`,
    });
    await showCollections(api, collection);
    const details = await untilFiles(api, collection, 'skill/pdf', (d) => d?.files.length === 1);
    assert.deepEqual(details?.files, [{ rel: 'SKILL.md', kind: 'conflicted' }]);
    const decoration = api.tree.files.provideFileDecoration(
      vscode.Uri.file(path.join(collection, 'skills/pdf/SKILL.md')),
    );
    assert.equal(decoration?.badge, 'C');
    assert.equal(
      (decoration?.color as vscode.ThemeColor | undefined)?.id,
      'gitDecoration.conflictingResourceForeground',
    );
  });
  it('marks an artifact that holds something that runs: "runs code" beside its state, what in the hover', async () => {
    const { collection } = outdatedCollection('none');
    writeFiles(collection, { 'skills/pdf/hooks/pre.sh': '#!/bin/sh\necho hi\n' });
    await showCollections(api, collection);
    const pdf = api.tree.getTreeItem(artifactElement(api, collection, 'skill', 'skill/pdf'));
    assert.match(String(pdf.description), /runs code/);
    assert.match((pdf.tooltip as vscode.MarkdownString).value, /Runs code: hooks \(run on tool events\)/);
    const review = api.tree.getTreeItem(artifactElement(api, collection, 'command', 'command/review'));
    assert.doesNotMatch(String(review.description), /runs code/);
  });
});

describe("artifact files: the file rows' context menu", function () {
  this.timeout(90_000);
  let api: ArtifactKeeperApi;
  let script: ScriptedPrompter;
  useScriptedHarness((a, s) => {
    api = a;
    script = s;
  });

  it('offers Open File (not on D), Open Changes and Show Snapshot History of File, each doing what it says', async () => {
    const { collection } = outdatedCollection('separate');
    writeFiles(collection, { 'skills/pdf/notes/extra.md': 'mine\n' });
    fs.rmSync(path.join(collection, 'skills/pdf/reference.md'));
    await showCollections(api, collection);
    await untilFiles(api, collection, 'skill/pdf', (d) => d?.files.length === 3);
    const files = api.tree.getChildren(artifactElement(api, collection, 'skill', 'skill/pdf'));
    const [skill, extra, reference] = files as [TreeElement, TreeElement, TreeElement];
    const values = files.map((f) => String(api.tree.getTreeItem(f).contextValue));
    assert.deepEqual(values, ['artifactFile;M', 'artifactFile;A', 'artifactFile;D']);
    const fileCommands = [
      'inline artifactKeeper.openFile',
      'artifactKeeper.openFile',
      'artifactKeeper.openFileChanges',
      'artifactKeeper.showFileHistory',
    ];
    assert.deepEqual(menuFor(values[0]!), fileCommands);
    assert.deepEqual(menuFor(values[1]!), fileCommands);
    assert.deepEqual(
      menuFor(values[2]!),
      ['artifactKeeper.openFileChanges', 'artifactKeeper.showFileHistory'],
      'a file deleted locally has nothing to open',
    );
    assert.ok(!menuFor('artifact;modified;upstream').some((c) => fileCommands.includes(c)));

    // Open File: the working file in a text editor.
    const skillFile = path.join(collection, 'skills/pdf/SKILL.md');
    await vscode.commands.executeCommand('artifactKeeper.openFile', skill, [skill]);
    let tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputText, 'a text editor is open');
    assert.equal(tab.input.uri.fsPath, skillFile);
    await vscode.commands.executeCommand('artifactKeeper.openFile', extra, [extra]);
    tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputText);
    assert.equal(tab.input.uri.fsPath, path.join(collection, 'skills/pdf/notes/extra.md'));

    // Open Changes: locked ↔ working, as the row's click; a deleted file against nothing.
    await vscode.commands.executeCommand('artifactKeeper.openFileChanges', skill, [skill]);
    tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, 'a diff editor is open');
    assert.equal(tab.input.modified.fsPath, skillFile);
    assert.equal(tab.label, 'pdf/SKILL.md (locked ↔ working)');
    assert.equal(
      (await vscode.workspace.openTextDocument(tab.input.original)).getText(),
      V1['skills/pdf/SKILL.md'],
    );
    await vscode.commands.executeCommand('artifactKeeper.openFileChanges', reference, [reference]);
    tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff);
    assert.equal(
      (await vscode.workspace.openTextDocument(tab.input.original)).getText(),
      V1['skills/pdf/reference.md'],
    );
    assert.equal((await vscode.workspace.openTextDocument(tab.input.modified)).getText(), '');

    // Show Snapshot History of File: the snapshots of this file, the picked one against the file now.
    let offered: string[] = [];
    script.answers.set('pickFileSnapshot', (items) => {
      offered = items.map((i) => String(i.detail));
      return items[0]?.value;
    });
    const history = (await vscode.commands.executeCommand('artifactKeeper.showFileHistory', skill, [
      skill,
    ])) as { rel: string; versions: unknown[]; title?: string } | undefined;
    assert.equal(history?.rel, 'skills/pdf/SKILL.md');
    assert.ok(history.versions.length >= 1, 'the snapshot before adding command/review holds v1');
    assert.ok(offered.includes('before adding command/review'), offered.join(', '));
    await until(api, 'the history diff', () =>
      vscode.window.tabGroups.activeTabGroup.activeTab?.label === history.title ? true : undefined,
    );
  });

  it('on a conflicted file, Resolve in Merge Editor opens the merge of that file, named by its real path', async () => {
    const { collection } = outdatedCollection('conflict');
    await showCollections(api, collection);
    const updated = cli(['update', 'pdf', '--strategy', 'merge', '--allow-exec', '--collection', collection]);
    assert.equal(updated.status, 3, updated.stderr + updated.stdout);
    await untilFiles(
      api,
      collection,
      'skill/pdf',
      (d) => d?.files.some((f) => f.kind === 'conflicted') === true,
    );
    const files = api.tree.getChildren(artifactElement(api, collection, 'skill', 'skill/pdf'));
    const conflicted = files.find((f) => api.tree.getTreeItem(f).contextValue === 'artifactFile;C');
    assert.ok(conflicted, JSON.stringify(files));
    assert.deepEqual(
      menuFor('artifactFile;C').filter((c) => !c.startsWith('inline ')),
      [
        'artifactKeeper.resolveInMergeEditor',
        'artifactKeeper.openFile',
        'artifactKeeper.openFileChanges',
        'artifactKeeper.showFileHistory',
      ],
    );
    assert.ok(!menuFor('artifactFile;M').includes('artifactKeeper.resolveInMergeEditor'));

    const skillFile = path.join(collection, 'skills/pdf/SKILL.md');
    let opened: vscode.Uri | undefined;
    script.merge = async (question) => {
      opened = question.output;
      await resolveInMergeEditor(question.output, skillMd('Use the pdf tool.', 'Resolved from the row.'));
      return 'completed';
    };
    const outcomes = await vscode.commands.executeCommand('artifactKeeper.resolveInMergeEditor', conflicted, [
      conflicted,
    ]);
    assert.deepEqual(outcomes, [{ id: 'skill/pdf', outcome: 'resolved' }]);
    assert.equal(opened?.scheme, 'artifact-keeper-merge');
    assert.equal(opened.path, vscode.Uri.file(skillFile).path);
    assert.equal(mergeTab(opened), undefined, 'the merge editor closed');
    assert.equal(
      read(collection, 'skills/pdf/SKILL.md'),
      skillMd('Use the pdf tool.', 'Resolved from the row.'),
    );
    await until(api, 'clean', () => api.store.find(collection)?.report?.state === 'clean');
  });
});
