// The status model, tree and status bar over real collections: clean, modified (from file-system events),
// inconsistent, unreadable, interrupted, locked by another process; incremental re-checks.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import type { TreeElement } from '../../src/extension/tree.js';
import {
  cli,
  holdWriterLock,
  makeCollection,
  makeUpstream,
  outdatedCollection,
  removeTempDirs,
  V1,
  writeFiles,
} from './support/fixtures.js';
import {
  artifact,
  getApi,
  hideCollections,
  installScript,
  showCollections,
  until,
} from './support/harness.js';

describe('status: store, tree and status bar', function () {
  this.timeout(60_000);
  let api: ArtifactKeeperApi;

  before(async () => {
    api = await getApi();
  });
  afterEach(async () => {
    await hideCollections(api);
    removeTempDirs();
  });

  it('shows a clean collection: tree of collection → types → artifacts, status bar clean', async () => {
    const { collection } = outdatedCollection('none');
    const [model] = await showCollections(api, collection);
    assert.ok(model);
    assert.equal(model.report?.state, 'clean');
    // Checked in the worker thread of the bundle (dist/checkWorker.js), not in the extension host's loop.
    assert.equal(api.store.checkMode, 'worker');
    assert.match(api.statusBar().text, /\$\(check\) Artifacts/);
    assert.equal(api.statusBar().background, undefined);

    const roots = api.tree.getChildren();
    const root = roots.find((e) => e.dir === collection);
    assert.ok(root);
    const rootItem = api.tree.getTreeItem(root);
    assert.equal(rootItem.label, 'test-collection');
    assert.equal(rootItem.description, 'clean');
    const groups = api.tree.getChildren(root);
    assert.deepEqual(
      groups.map((g) => api.tree.getTreeItem(g).label),
      ['Skills', 'Commands'],
    );
    const skills = api.tree.getChildren(groups[0]);
    assert.equal(skills.length, 1);
    const pdf = skills[0] as TreeElement;
    const item = api.tree.getTreeItem(pdf);
    assert.equal(item.label, 'pdf');
    assert.equal(item.contextValue, 'artifact;clean;upstream');
    assert.match(String(item.description), /^[0-9a-f]{7} · clean$/);
    assert.equal(item.id, `artifact:${collection}:skill/pdf`);
    assert.deepEqual(api.tree.getParent(pdf), groups[0]);
    assert.equal(api.tree.getParent(groups[0] as TreeElement), root);
    // The same artifact is always the same element object (stable for reveal and targeted refreshes).
    assert.equal(api.tree.getChildren(groups[0])[0], pdf);
  });

  it('turns modified when a file is edited, from file-system events only, re-hashing just that artifact', async () => {
    const { collection } = outdatedCollection('none');
    const [model] = await showCollections(api, collection);
    assert.equal(model?.report?.state, 'clean');
    // Files younger than 2 s are re-hashed on every check (the racy-stat rule); let them age, then warm the cache.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await vscode.commands.executeCommand('artifactKeeper.refresh');
    writeFiles(collection, { 'skills/pdf/SKILL.md': 'edited\n' });
    const report = await until(api, 'the edit to show', () =>
      api.store.find(collection)?.report?.state === 'modified'
        ? api.store.find(collection)?.report
        : undefined,
    );
    assert.equal(report.rehashed, 1, 'only the edited artifact is re-hashed');
    assert.equal(artifact(api.store.find(collection)!, 'skill/pdf')?.state, 'modified');
    assert.equal(artifact(api.store.find(collection)!, 'command/review')?.state, 'clean');
    assert.match(api.statusBar().text, /\$\(edit\) 1 modified/);
    assert.match(api.statusBar().tooltip, /local edits/);
    // Undoing the edit by hand makes it clean again.
    writeFiles(collection, { 'skills/pdf/SKILL.md': V1['skills/pdf/SKILL.md'] });
    await until(api, 'clean again', () => api.store.find(collection)?.report?.state === 'clean');
  });

  it('shows inconsistent when an artifact folder goes missing', async () => {
    const { collection } = outdatedCollection('none');
    await showCollections(api, collection);
    fs.rmSync(path.join(collection, 'commands/review.md'));
    await until(api, 'inconsistent', () => api.store.find(collection)?.report?.state === 'inconsistent');
    assert.match(api.statusBar().text, /\$\(warning\) Artifacts inconsistent/);
    assert.equal(api.statusBar().background, 'warning');
    assert.match(api.statusBar().tooltip, /command\/review: commands\/review\.md does not exist/);
    const model = api.store.find(collection)!;
    assert.equal(artifact(model, 'command/review')?.state, 'missing');
  });

  it('shows an unreadable manifest as a problem row and in the status bar', async () => {
    const collection = makeCollection('broken');
    fs.appendFileSync(path.join(collection, 'collection.toml'), '\n[[artifacts]\nname = \n');
    await showCollections(api, collection);
    const model = api.store.find(collection)!;
    assert.equal(model.report, undefined);
    assert.match(api.statusBar().text, /Artifacts unreadable/);
    const root = api.tree.getChildren().find((e) => e.dir === collection)!;
    const [problem] = api.tree.getChildren(root);
    assert.equal(problem?.kind, 'problem');
    const item = api.tree.getTreeItem(problem!);
    assert.match(String(item.label), /collection\.toml line \d+ cannot be read/);
    assert.equal(item.command?.command, 'vscode.open');
    // Fixing the file heals the view through the watcher.
    fs.writeFileSync(
      path.join(collection, 'collection.toml'),
      fs
        .readFileSync(path.join(collection, 'collection.toml'), 'utf8')
        .replace('\n[[artifacts]\nname = \n', '\n'),
    );
    await until(api, 'readable again', () => api.store.find(collection)?.report?.state === 'clean');
  });

  it('shows "locked" while another process holds the writer lock, and clears it when released', async () => {
    const { collection } = outdatedCollection('none');
    await showCollections(api, collection);
    const holder = await holdWriterLock(collection);
    try {
      await until(api, 'locked', () => api.store.find(collection)?.foreignLock?.pid === holder.pid);
      assert.match(api.statusBar().text, /\$\(lock\) Artifacts locked/);
      assert.match(api.statusBar().tooltip, new RegExp(`pid ${holder.pid}`));
      const root = api.tree.getChildren().find((e) => e.dir === collection)!;
      assert.equal(api.tree.getTreeItem(root).description, 'locked by another process');
    } finally {
      await holder.release();
    }
    // The lock file of a dead holder is stale: readers treat it as free.
    await vscode.commands.executeCommand('artifactKeeper.refresh');
    await until(api, 'unlocked', () => api.store.find(collection)?.foreignLock === undefined);
    assert.match(api.statusBar().text, /\$\(check\) Artifacts/);
  });

  it('shows an interrupted transaction and recovers it with the Recover command', async () => {
    const { collection } = outdatedCollection('none');
    const before = fs.readFileSync(path.join(collection, 'collection.lock'), 'utf8');
    // The CLI's update fails at the commit point and its undo fails too: a journal is left behind.
    const failed = cli(
      ['update', 'pdf', '--strategy', 'overwrite', '--allow-exec', '--collection', collection],
      {
        ARTIFACT_KEEPER_FAULT: INTERRUPT_FAULT,
      },
    );
    assert.notEqual(failed.status, 0, failed.stdout);
    await showCollections(api, collection);
    assert.equal(api.store.find(collection)?.report?.state, 'interrupted');
    assert.match(api.statusBar().text, /interrupted: recover/);
    assert.equal(api.statusBar().background, 'error');
    const root = api.tree.getChildren().find((e) => e.dir === collection)!;
    const [problem] = api.tree.getChildren(root);
    assert.equal(api.tree.getTreeItem(problem!).command?.command, 'artifactKeeper.recover');

    const script = installScript(api);
    const outcome = await vscode.commands.executeCommand('artifactKeeper.recover', collection);
    assert.equal(outcome, 'rolled-back');
    await script.notice((n) => n.id === 'recovered');
    assert.match(
      script.notices.find((n) => n.id === 'recovered')!.message,
      /the interrupted change was undone/,
    );
    await until(api, 'clean after recovery', () => api.store.find(collection)?.report?.state === 'clean');
    assert.equal(fs.readFileSync(path.join(collection, 'collection.lock'), 'utf8'), before);
  });

  it('lists several collections (multi-root) and aggregates the status bar over them', async () => {
    const first = outdatedCollection('none', 'alpha').collection;
    const second = makeCollection('beta');
    const upstream = makeUpstream(V1);
    cli(['add', `${upstream.dir}#skills/pdf`, '--collection', second]);
    await showCollections(api, first, second);
    assert.deepEqual(
      api.tree.getChildren().map((e) => api.tree.getTreeItem(e).label),
      ['alpha', 'beta'],
    );
    writeFiles(second, { 'skills/pdf/reference.md': 'mine\n' });
    await until(api, 'beta modified', () => api.store.find(second)?.report?.state === 'modified');
    assert.match(api.statusBar().text, /1 modified/);
  });
});

/**
 * Fails the rename that commits the lock, then every later rename (the undo's), leaving the journal.
 * Found by running the CLI with candidates; see status.test.ts "interrupted".
 */
export const INTERRUPT_FAULT =
  process.env.AK_INTERRUPT_FAULT ?? 'rename:1:EIO:collection.lock,rename:2:EIO:skills/pdf/SKILL.md';
