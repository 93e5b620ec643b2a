// "Restore snapshot" from the palette: pick (age, reason, artifacts, pinned), diff preview, confirm,
// restore with a safety snapshot, and undo of the restore; "Take snapshot"; history and rollback.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listSnapshots, nodeFs, silentLogger } from '../../src/core/index.js';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import type { PickItem } from '../../src/extension/prompter.js';
import { outdatedCollection, read, writeFiles } from './support/fixtures.js';
import { setSetting, showCollections, until } from './support/harness.js';
import { useScriptedHarness } from './support/harness.js';
import type { ScriptedPrompter } from './support/scriptedPrompter.js';

describe('snapshots: take, restore, roll back, history', function () {
  this.timeout(90_000);
  let api: ArtifactKeeperApi;
  let script: ScriptedPrompter;

  useScriptedHarness(
    (a, s) => {
      api = a;
      script = s;
    },
    async () => {
      await setSetting('defaultStrategy', undefined);
    },
  );

  it('takes a snapshot, then restores it after edits: pick → preview → confirm → restored, undoable', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('snapshotMessage', 'before my experiment');
    const id = await vscode.commands.executeCommand<string>('artifactKeeper.takeSnapshot', s.collection);
    assert.ok(id, 'a snapshot id');
    assert.match(
      (await script.notice((n) => n.id === 'snapshot-taken')).message,
      new RegExp(`^Took snapshot ${id} of test-collection\\.$`),
    );

    const original = read(s.collection, 'skills/pdf/SKILL.md');
    writeFiles(s.collection, { 'skills/pdf/SKILL.md': 'experiment\n', 'skills/pdf/new.md': 'new file\n' });
    await until(api, 'modified', () => api.store.find(s.collection)?.report?.state === 'modified');

    let offered: PickItem<unknown>[] = [];
    script.answers.set('pickSnapshot', (items) => {
      offered = items;
      return items.find((i) => i.value === id)?.value;
    });
    script.answers.set('confirmRestore', true);
    const outcome = await vscode.commands.executeCommand<{ kind: string; safetySnapshot: string }>(
      'artifactKeeper.restoreSnapshot',
      s.collection,
    );
    assert.equal(outcome?.kind, 'restored');
    const mine = offered.find((i) => i.value === id);
    assert.ok(mine);
    assert.match(mine.label, /^before my experiment$/, 'the reason leads');
    assert.match(String(mine.description), /ago|now/);
    assert.match(String(mine.description), new RegExp(id));
    const confirm = script.questions('confirm')[0];
    assert.equal(confirm?.text, `Restore snapshot ${id} of test-collection?`);
    assert.match(String(confirm?.detail), /^2 file\(s\) change\. A safety snapshot is taken first/);
    assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), original);
    await until(
      api,
      'clean after the restore',
      () => api.store.find(s.collection)?.report?.state === 'clean',
    );
    const restored = await script.notice((n) => n.id === 'restore-succeeded');
    assert.match(
      restored.message,
      new RegExp(`^Restored snapshot ${id}\\. Safety snapshot \\S+ holds the state before the restore\\.$`),
    );

    // Undo Restore brings the edits back.
    await vscode.commands.executeCommand('artifactKeeper.rollback', s.collection, outcome?.safetySnapshot);
    assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), 'experiment\n');
  });

  it('hides the safety snapshots of restores behind a last item that shows them', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('snapshotMessage', 'mine');
    const id = await vscode.commands.executeCommand<string>('artifactKeeper.takeSnapshot', s.collection);
    writeFiles(s.collection, { 'skills/pdf/SKILL.md': 'edited\n' });
    script.answers.set('pickSnapshot', (items) => items.find((i) => i.value === id)?.value);
    script.answers.set('confirmRestore', true);
    const restored = await vscode.commands.executeCommand<{ kind: string; safetySnapshot: string }>(
      'artifactKeeper.restoreSnapshot',
      s.collection,
    );
    assert.equal(restored?.kind, 'restored');
    const rounds: PickItem<unknown>[][] = [];
    script.answers.set('pickSnapshot', (items) => {
      rounds.push(items);
      return rounds.length === 1 ? items[items.length - 1]?.value : undefined;
    });
    const outcome = await vscode.commands.executeCommand<{ kind: string }>(
      'artifactKeeper.restoreSnapshot',
      s.collection,
    );
    assert.equal(outcome?.kind, 'cancelled');
    assert.equal(rounds.length, 2);
    const [first, second] = rounds as [PickItem<unknown>[], PickItem<unknown>[]];
    assert.ok(!first.some((i) => i.value === restored?.safetySnapshot), 'the safety snapshot is hidden');
    assert.match(first[first.length - 1]!.label, /Show 1 safety snapshot/);
    assert.ok(
      second.some((i) => i.value === restored?.safetySnapshot),
      'and shown on request',
    );
  });

  it('declines to restore when the person does not confirm', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('snapshotMessage', '');
    const id = await vscode.commands.executeCommand<string>('artifactKeeper.takeSnapshot', s.collection);
    writeFiles(s.collection, { 'skills/pdf/SKILL.md': 'experiment\n' });
    script.answers.set('pickSnapshot', (items) => items.find((i) => i.value === id)?.value);
    script.answers.set('confirmRestore', false);
    const outcome = await vscode.commands.executeCommand<{ kind: string }>(
      'artifactKeeper.restoreSnapshot',
      s.collection,
    );
    assert.equal(outcome?.kind, 'cancelled');
    assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), 'experiment\n');
  });

  it('rolls back the last update from the palette, and the history lists it', async () => {
    await setSetting('defaultStrategy', 'merge');
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    const before = read(s.collection, 'skills/pdf/SKILL.md');
    const updated = await vscode.commands.executeCommand<{ kind: string }>('artifactKeeper.updateArtifact', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    assert.equal(updated?.kind, 'updated');

    script.answers.set('pickHistory', (items) => items[0]?.value);
    script.answers.set('pickHistoryAction', () => 'changes');
    await vscode.commands.executeCommand('artifactKeeper.showHistory', s.collection);
    const history = script.questions('pick').find((q) => q.id === 'pickHistory');
    assert.ok(history);
    assert.match(String((history.detail as string[])[0]), /^update: pdf$/);

    script.answers.set('confirmRollback', true);
    const rolled = await vscode.commands.executeCommand('artifactKeeper.rollback', s.collection);
    assert.equal(rolled, true);
    assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), before);
    assert.match(
      (await script.notice((n) => n.id === 'rollback-succeeded')).message,
      /^Rolled back pdf to snapshot \S+\.$/,
    );
  });

  it('Show History lists a long history a page at a time, newest first, and names only the first few artifacts of a large change', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    // 450 recorded changes, the newest an update of 2,000 artifacts (as `update --all` records it).
    const line = (i: number, artifacts: string[]): string =>
      JSON.stringify({
        txId: `t${i}`,
        kind: 'update',
        description: `update ${i}`,
        artifacts,
        preSnapshot: `s${i}`,
        time: '2026-12-08T00:00:00.000Z',
        tool: 'test',
        outcome: 'committed',
      });
    const lines = Array.from({ length: 449 }, (_, i) => line(i, [`skill/one-${i}`]));
    lines.push(
      line(
        449,
        Array.from({ length: 2000 }, (_, i) => `skill/s${i}`),
      ),
    );
    fs.writeFileSync(path.join(s.collection, '.artifact-keeper', 'history.jsonl'), `${lines.join('\n')}\n`);
    let pages = 0;
    script.answers.set('pickHistory', (items) => (++pages < 3 ? items[items.length - 1]?.value : undefined));
    await vscode.commands.executeCommand('artifactKeeper.showHistory', s.collection);
    const shown = script
      .questions('pick')
      .filter((q) => q.id === 'pickHistory')
      .map((q) => q.detail as string[]);
    assert.deepEqual(
      shown.map((labels) => labels.length),
      [201, 201, 50],
    );
    assert.equal(shown[0]![0], 'update: s0, s1, s2 and 1,997 more');
    assert.equal(shown[0]![1], 'update: one-448');
    assert.equal(shown[0]![200], '$(history) Older changes…');
    assert.equal(shown[1]![0], 'update: one-249');
    assert.equal(shown[2]![49], 'update: one-0');
  });

  it('Undo Last Change undoes the last update without a question, and again re-applies it (retention from the settings)', async () => {
    await setSetting('defaultStrategy', 'merge');
    await setSetting('retention.keep', 1);
    try {
      const s = outdatedCollection('none');
      await showCollections(api, s.collection);
      const before = read(s.collection, 'skills/pdf/SKILL.md');
      const updated = await vscode.commands.executeCommand<{ kind: string }>(
        'artifactKeeper.updateArtifact',
        { collection: s.collection, artifact: 'skill/pdf' },
      );
      assert.equal(updated?.kind, 'updated');
      const after = read(s.collection, 'skills/pdf/SKILL.md');
      assert.notEqual(after, before);
      // Retention ran after the update with the setting: one unpinned snapshot, the update's own.
      const listed = await listSnapshots(s.collection, { fs: nodeFs, logger: silentLogger });
      assert.equal(listed.filter((x) => !x.pinned).length, 1, 'artifactKeeper.retention.keep = 1');

      const undone = await vscode.commands.executeCommand<{ changed: number; undone: { kind: string } }>(
        'artifactKeeper.undo',
        s.collection,
      );
      assert.equal(undone?.undone.kind, 'update');
      assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), before);
      assert.deepEqual(script.questions('confirm'), [], 'no confirmation: the undo is undone the same way');
      const notice = await script.notice((n) => n.id === 'undo-succeeded');
      assert.match(
        notice.message,
        /^Undid update of skill\/pdf: restored snapshot \S+\. Undo again to re-apply it\.$/,
      );
      assert.deepEqual(
        notice.actions.map((a) => a.title),
        ['Show Changes'],
      );

      const redone = await vscode.commands.executeCommand<{ undone: { kind: string } }>(
        'artifactKeeper.undo',
        s.collection,
      );
      assert.equal(redone?.undone.kind, 'undo');
      assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), after, 'undo twice: the update is back');
    } finally {
      await setSetting('retention.keep', undefined);
    }
  });

  it('says when a snapshot matches the collection already', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('snapshotMessage', '');
    const id = await vscode.commands.executeCommand<string>('artifactKeeper.takeSnapshot', s.collection);
    const outcome = await vscode.commands.executeCommand<{ kind: string }>(
      'artifactKeeper.restoreSnapshot',
      s.collection,
      id,
    );
    assert.equal(outcome?.kind, 'unchanged');
    assert.match(
      (await script.notice((n) => n.id === 'restore-unchanged')).message,
      /already matches snapshot/,
    );
  });

  it('serves snapshot contents read-only under artifact-snapshot:', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('snapshotMessage', '');
    const id = await vscode.commands.executeCommand<string>('artifactKeeper.takeSnapshot', s.collection);
    const uri = vscode.Uri.from({
      scheme: 'artifact-snapshot',
      path: `/${id}/skills/pdf/SKILL.md`,
      query: JSON.stringify({
        kind: 'snapshot',
        dir: s.collection,
        snapshotId: id,
        rel: 'skills/pdf/SKILL.md',
      }),
    });
    const document = await vscode.workspace.openTextDocument(uri);
    assert.equal(document.getText(), read(s.collection, 'skills/pdf/SKILL.md'));
    assert.equal(document.languageId, 'markdown');
  });
});
