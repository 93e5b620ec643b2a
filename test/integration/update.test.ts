// "Update artifact" end to end in the real extension host, per strategy: overwrite (preview, Apply /
// Cancel), merge (clean; a conflict committed with markers, then resolved in the merge editor, closed,
// reopened, aborted, marked resolved, or left by the CLI), update all's summary, prompt (a choice per file),
// keep; success and its Undo; failure → undo → notification; auto-undo off → Roll Back; two writers.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import { summaryMessage } from '../../src/extension/updateFlow.js';
import type { UpdateOutcome } from '../../src/extension/updateFlow.js';
import { firstNames } from '../../src/extension/ui.js';
import type { ConflictWalkOutcome } from '../../src/extension/conflictFlow.js';
import {
  cli,
  cliOk,
  holdWriterLock,
  lockEntry,
  makeCollection,
  makeUpstream,
  outdatedCollection,
  read,
  skillMd,
  V1,
  V2,
  writeFiles,
} from './support/fixtures.js';
import {
  artifact,
  mergeTab,
  mergeTabOf,
  resolveInMergeEditor,
  setSetting,
  showCollections,
  until,
  untilMergeTab,
} from './support/harness.js';
import { readTree } from '../support/files.js';
import { useScriptedHarness } from './support/harness.js';
import type { ScriptedPrompter } from './support/scriptedPrompter.js';

const SKILL = 'skills/pdf/SKILL.md';

function update(collection: string): Thenable<UpdateOutcome | undefined> {
  return vscode.commands.executeCommand<UpdateOutcome | undefined>('artifactKeeper.updateArtifact', {
    collection,
    artifact: 'skill/pdf',
  });
}

describe('update artifact', function () {
  this.timeout(90_000);
  let api: ArtifactKeeperApi;
  let script: ScriptedPrompter;

  useScriptedHarness(
    (a, s) => {
      api = a;
      script = s;
    },
    async (a) => {
      a.setFaultSpec(undefined);
      await setSetting('defaultStrategy', undefined);
      await setSetting('autoUndo', undefined);
    },
  );

  describe('overwrite', () => {
    beforeEach(() => setSetting('defaultStrategy', 'overwrite'));

    it('previews every change, applies on Apply, and says "Updated pdf to <version>"', async () => {
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      const [review] = script.questions('review');
      assert.ok(review, 'the preview asked Apply or Cancel');
      assert.match(
        review.text,
        /Apply the update of pdf .* → .*\? 3 file\(s\) change; local edits in 1 file\(s\) are replaced by upstream\./,
      );
      for (const [rel, content] of Object.entries(V2)) assert.equal(read(s.collection, rel), content, rel);
      const notice = await script.notice((n) => n.id === 'update-succeeded');
      assert.equal(notice.message, `Updated pdf to ${s.v2.slice(0, 7)}`);
      assert.deepEqual(
        notice.actions.map((a) => a.title),
        ['Undo Update', 'Show Changes'],
      );
      await until(
        api,
        'clean after the update',
        () => api.store.find(s.collection)?.report?.state === 'clean',
      );
      assert.match(api.statusBar().text, /\$\(check\) Artifacts/);
      assert.equal(artifact(api.store.find(s.collection)!, 'skill/pdf')?.resolvedSha, s.v2);
    });

    it('writes nothing when the preview is cancelled', async () => {
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      script.review = () => 'cancel';
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'cancelled');
      assert.deepEqual(readTree(s.collection), before);
      assert.equal(script.notices.filter((n) => n.id === 'update-failed').length, 0);
      assert.equal(api.store.find(s.collection)?.activity.kind, 'idle');
    });

    it('Undo Update restores the state before the update in one click', async () => {
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      script.press = (n) => (n.id === 'update-succeeded' ? 'undo' : undefined);
      await update(s.collection);
      const undone = await script.notice((n) => n.id === 'undo-succeeded', 30_000);
      assert.match(
        undone.message,
        /^Undid update of skill\/pdf: restored snapshot \S+\. Undo again to re-apply it\.$/,
      );
      assert.deepEqual(
        undone.actions.map((a) => a.title),
        ['Show Changes'],
      );
      assert.deepEqual(readTree(s.collection), before);
      await until(
        api,
        'modified again (the local edit is back)',
        () => api.store.find(s.collection)?.report?.state === 'modified',
      );
    });
  });

  describe('merge', () => {
    beforeEach(() => setSetting('defaultStrategy', 'merge'));

    it('applies a clean three-way merge without asking: upstream changes in, local edit kept', async () => {
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      assert.equal(
        read(s.collection, SKILL),
        skillMd('Use the pdf tool, and check the page count first.', 'Version two notes.'),
      );
      assert.equal(read(s.collection, 'skills/pdf/reference.md'), V2['skills/pdf/reference.md']);
      assert.equal(script.questions('merge').length, 0);
      assert.equal(script.questions('review').length, 0);
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
    });

    it('"Update Artifact With…" takes the strategy for this update only: overwrite, with its preview', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      let offered: unknown[] = [];
      script.answers.set('pickStrategy', (items) => {
        offered = items.map((i) => i.value);
        return items.find((i) => i.value === 'overwrite')?.value;
      });
      const outcome = await vscode.commands.executeCommand<UpdateOutcome>(
        'artifactKeeper.updateArtifactWith',
        {
          collection: s.collection,
          artifact: ['skill/pdf'],
        },
      );
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      assert.deepEqual(offered, ['merge', 'prompt', 'overwrite', 'keep'], 'the default (merge) first');
      assert.equal(script.questions('review').length, 1, 'the overwrite preview was shown');
      assert.equal(script.questions('merge').length, 0);
      assert.equal(read(s.collection, SKILL), V2[SKILL]);
      assert.equal(vscode.workspace.getConfiguration('artifactKeeper').get('defaultStrategy'), 'merge');
    });

    it('an overlapping edit commits with markers and conflicted; the merge editor opens; Complete Merge writes the file and resolves', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let starting = '';
      script.merge = async (question) => {
        assert.equal(question.editor, 'merge');
        // The result is named by the real file (tab, breadcrumbs) but is ours: its writes stay a draft.
        assert.equal(question.output.scheme, 'artifact-keeper-merge');
        assert.equal(question.output.path, vscode.Uri.file(path.join(s.collection, SKILL)).path);
        await gate;
        starting = await resolveInMergeEditor(
          question.output,
          skillMd('Use the pdf tool.', 'My own notes, and version two notes.'),
        );
        return 'completed';
      };
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      assert.deepEqual(outcome.kind === 'updated' ? outcome.conflicted.map((c) => c.id) : [], ['skill/pdf']);
      // Committed as git leaves it: markers in the file, the lock entry conflicted, upstream's other files in.
      assert.match(read(s.collection, SKILL), /^<{7} local$/m);
      assert.match(read(s.collection, SKILL), /^>{7} upstream$/m);
      assert.match(lockEntry(s.collection, 'pdf'), /conflicted = true/);
      assert.equal(read(s.collection, 'skills/pdf/reference.md'), V2['skills/pdf/reference.md']);
      const notice = await script.notice((n) => n.id === 'update-conflicted');
      assert.match(notice.message, /^Updated pdf to \S+ with 1 conflict in SKILL\.md$/);
      assert.deepEqual(
        notice.actions.map((a) => a.title),
        ['Resolve in Merge Editor', 'Abort Update'],
      );
      await until(
        api,
        'conflicted',
        () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'conflicted',
      );
      assert.match(api.statusBar().text, /Merge conflicts: pdf/);
      release();
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
      assert.equal(
        starting,
        skillMd('Use the pdf tool.', 'Version one notes.'),
        'the merge editor starts from base in the conflict',
      );
      assert.equal(
        read(s.collection, SKILL),
        skillMd('Use the pdf tool.', 'My own notes, and version two notes.'),
      );
      assert.doesNotMatch(lockEntry(s.collection, 'pdf'), /conflicted/);
      await script.notice((n) => n.id === 'conflicts-resolved');
    });

    it('a merge reported complete while its result is still unsaved: the result is saved first, and the resolution written, not the starting text', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      let output: vscode.Uri | undefined;
      script.merge = async (question) => {
        output = question.output;
        // The starting result saved, the resolution typed after it and not saved: the draft holds the
        // starting result, the base text where the conflict was (both sides' edits gone).
        const starting = await resolveInMergeEditor(
          question.output,
          skillMd('Use the pdf tool.', 'Resolved, while the save was still on its way.'),
          { unsaved: true },
        );
        assert.equal(starting, skillMd('Use the pdf tool.', 'Version one notes.'));
        return 'completed';
      };
      await update(s.collection);
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
      assert.equal(
        read(s.collection, SKILL),
        skillMd('Use the pdf tool.', 'Resolved, while the save was still on its way.'),
      );
      assert.doesNotMatch(lockEntry(s.collection, 'pdf'), /conflicted/);
      const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === output?.toString());
      assert.equal(document?.isDirty, false, 'the result was saved before it was taken');
      const tab = output && mergeTab(output);
      if (tab) await vscode.window.tabGroups.close(tab);
    });

    it('a merge completed with the base text in every conflict (what "Don\'t Save" reverts the result to) asks first; Back to Merge writes nothing and starts the merge over from the markers', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      script.answers.set('confirmBaseResult', 'back');
      let rounds = 0;
      let markersBetween = '';
      script.merge = async (question) => {
        rounds++;
        if (rounds === 1) {
          // Where "Don't Save" on Complete Merge's close leaves a merge: the result saved as the merge
          // editor started it (the base in the conflict), the person's resolution reverted away.
          await untilMergeTab(question.output);
          await vscode.workspace.fs.writeFile(
            question.output,
            Buffer.from(skillMd('Use the pdf tool.', 'Version one notes.')),
          );
          return 'completed';
        }
        markersBetween = read(s.collection, SKILL);
        await resolveInMergeEditor(question.output, skillMd('Use the pdf tool.', 'Mine, then version two.'));
        return 'completed';
      };
      await update(s.collection);
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
      assert.equal(rounds, 2, 'the merge editor was opened again');
      const asked = script.asked.filter((a) => a.id === 'confirmBaseResult');
      assert.equal(asked.length, 1);
      assert.match(asked[0]!.text, /SKILL\.md keeps the base text in every conflict/);
      assert.deepEqual(asked[0]!.detail, ['back', 'keep']);
      assert.match(markersBetween, /^<{7} local$/m, 'nothing was written before the answer');
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'Mine, then version two.'));
      assert.doesNotMatch(lockEntry(s.collection, 'pdf'), /conflicted/);
    });

    it('a merge completed with the base text in every conflict is written when the person keeps it', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      script.answers.set('confirmBaseResult', 'keep');
      let rounds = 0;
      script.merge = async (question) => {
        rounds++;
        await untilMergeTab(question.output);
        await vscode.workspace.fs.writeFile(
          question.output,
          Buffer.from(skillMd('Use the pdf tool.', 'Version one notes.')),
        );
        return 'completed';
      };
      await update(s.collection);
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
      assert.equal(rounds, 1);
      assert.equal(script.asked.filter((a) => a.id === 'confirmBaseResult').length, 1);
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'Version one notes.'));
      assert.doesNotMatch(lockEntry(s.collection, 'pdf'), /conflicted/);
    });

    it('a merge editor closed without Complete Merge changes nothing: markers stay, the artifact stays conflicted, Resolve Conflicts reopens it', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      let rounds = 0;
      let result: vscode.Uri | undefined;
      script.merge = async (question) => {
        rounds++;
        result = question.output;
        if (rounds === 1) {
          // The person saves what the merge editor starts from (the base text in the conflict: both
          // sides' edits gone) and closes the tab with its X: nothing of it may be written.
          await resolveInMergeEditor(question.output, skillMd('Use the pdf tool.', 'Version one notes.'));
          return 'closed';
        }
        assert.ok(mergeTab(question.output), 'the merge editor was reopened');
        await resolveInMergeEditor(question.output, skillMd('Use the pdf tool.', 'Mine and version two.'));
        return 'completed';
      };
      await update(s.collection);
      const closed = await script.notice((n) => n.id === 'merge-closed');
      assert.deepEqual(
        closed.actions.map((a) => a.id),
        ['reopen', 'abort'],
      );
      const withMarkers = read(s.collection, SKILL);
      assert.match(withMarkers, /^<{7} local$/m, 'the real file keeps its markers');
      assert.equal(
        Buffer.from(await vscode.workspace.fs.readFile(result!)).toString('utf8'),
        withMarkers,
        'the saved draft was dropped: the result reads the real file again',
      );
      assert.match(lockEntry(s.collection, 'pdf'), /conflicted = true/);
      const model = await until(api, 'conflicted', () =>
        artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'conflicted'
          ? api.store.find(s.collection)
          : undefined,
      );
      assert.match(api.statusBar().text, /Merge conflicts: pdf/);
      const group = api.tree
        .getChildren(api.tree.getChildren().find((e) => e.dir === s.collection))
        .find((g) => g.kind === 'group' && g.type === 'skill');
      const item = api.tree.getTreeItem(api.tree.getChildren(group)[0]!);
      assert.match(String(item.description), /conflicted \(1 file\)/);
      assert.equal(model?.report?.state, 'conflicted');

      const outcomes = await vscode.commands.executeCommand<ConflictWalkOutcome[]>(
        'artifactKeeper.resolveConflicts',
        { collection: s.collection, artifact: 'skill/pdf' },
      );
      assert.deepEqual(outcomes, [{ id: 'skill/pdf', outcome: 'resolved' }]);
      assert.equal(rounds, 2);
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'Mine and version two.'));
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
    });

    it('Complete Merge with markers left writes nothing and reopens the merge editor', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      let rounds = 0;
      script.merge = async (question) => {
        rounds++;
        if (rounds === 1) {
          await resolveInMergeEditor(
            question.output,
            '<<<<<<< mine\nmine\n=======\ntheirs\n>>>>>>> upstream\n',
          );
          return 'completed';
        }
        assert.ok(mergeTab(question.output), 'the merge editor was reopened');
        return 'closed';
      };
      await update(s.collection);
      await script.notice((n) => n.id === 'merge-closed');
      assert.equal(rounds, 2);
      assert.ok(
        script.notices.some(
          (n) => n.id === 'merge-unresolved' && /still has conflict markers/.test(n.message),
        ),
      );
      assert.match(read(s.collection, SKILL), /^<{7} local$/m);
    });

    it('Abort Update, while the merge editor is open, puts back the bytes from before the update', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      let opened!: () => void;
      const waiting = new Promise<void>((resolve) => (opened = resolve));
      script.merge = (question) =>
        new Promise((resolve) => {
          opened();
          question.signal.addEventListener('abort', () => resolve('cancel'));
        });
      await update(s.collection);
      await waiting;
      await vscode.commands.executeCommand('artifactKeeper.abortUpdate', {
        collection: s.collection,
        artifact: 'skill/pdf',
      });
      // Everything as before the update, but the manifest's own `updated` stamp (the abort is a change too).
      const unstamped = (files: Record<string, string>): Record<string, string> => ({
        ...files,
        'collection.toml': (files['collection.toml'] ?? '').replace(/^updated = .*$/m, ''),
      });
      assert.deepEqual(unstamped(readTree(s.collection)), unstamped(before));
      assert.doesNotMatch(lockEntry(s.collection, 'pdf'), /conflicted/);
      await script.notice((n) => n.id === 'update-aborted');
      await until(
        api,
        'modified',
        () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'modified',
      );
      assert.ok(
        !vscode.window.tabGroups.all.some((g) => g.tabs.some((tab) => mergeTabOf(tab))),
        'the merge editor closed',
      );
    });

    it('a conflict the CLI left (no update session: as after a window reload) opens in the merge editor too', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      const updated = cli([
        'update',
        'pdf',
        '--strategy',
        'merge',
        '--allow-exec',
        '--collection',
        s.collection,
      ]);
      assert.equal(updated.status, 3, updated.stderr + updated.stdout);
      await until(
        api,
        'conflicted',
        () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'conflicted',
      );
      assert.match(api.statusBar().text, /Merge conflicts: pdf/);
      let sides: string[] = [];
      script.merge = async (question) => {
        const tab = mergeTab(question.output) ?? (await untilMergeTab(question.output));
        const input = tab.input as { base: vscode.Uri; input1: vscode.Uri; input2: vscode.Uri };
        sides = await Promise.all(
          [input.base, input.input1, input.input2].map(async (uri) =>
            (await vscode.workspace.openTextDocument(uri)).getText(),
          ),
        );
        await resolveInMergeEditor(question.output, skillMd('Use the pdf tool.', 'Resolved after a reload.'));
        return 'completed';
      };
      await vscode.commands.executeCommand('artifactKeeper.resolveConflicts');
      assert.deepEqual(sides, [
        skillMd('Use the pdf tool.', 'Version one notes.'),
        skillMd('Use the pdf tool.', 'My own notes about PDFs.'),
        V2[SKILL],
      ]);
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'Resolved after a reload.'));
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
    });

    it('Mark Resolved refuses while markers remain, and re-locks once they are edited away by hand', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      script.merge = async () => 'closed';
      await update(s.collection);
      await script.notice((n) => n.id === 'merge-closed');
      await vscode.commands.executeCommand('artifactKeeper.markResolved', {
        collection: s.collection,
        artifact: 'skill/pdf',
      });
      const refused = await script.notice((n) => n.id === 'error');
      assert.match(refused.message, /skill\/pdf still has conflicts in SKILL\.md \(markers\)/);
      writeFiles(s.collection, { [SKILL]: skillMd('Use the pdf tool.', 'Edited by hand.') });
      await vscode.commands.executeCommand('artifactKeeper.markResolved', {
        collection: s.collection,
        artifact: 'skill/pdf',
      });
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'Edited by hand.'));
    });

    it('Update all goes on past a conflict and ends with one summary: [Resolve Conflicts]', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      script.merge = async () => 'closed';
      const outcome = await vscode.commands.executeCommand<UpdateOutcome>(
        'artifactKeeper.updateAll',
        s.collection,
      );
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      const notice = await script.notice((n) => n.id === 'update-all-summary');
      // v2 changes the skill only: review's path did not change, so it is up to date without a fetch.
      assert.equal(notice.message, 'Update all: 1 conflicted (pdf), 1 up to date');
      assert.deepEqual(
        notice.actions.map((a) => a.title),
        ['Resolve Conflicts', 'Undo Update'],
      );
      assert.equal(script.questions('merge').length, 0, 'update all opens no merge editor by itself');
      assert.match(lockEntry(s.collection, 'pdf'), /conflicted = true/);
    });
  });

  describe('prompt', () => {
    beforeEach(() => setSetting('defaultStrategy', 'prompt'));

    it('walks the files upstream touched with a choice each', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      script.choose = (q) => (q.rel === 'SKILL.md' ? 'mine' : 'upstream');
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      assert.deepEqual(
        script.questions('choose').map((q) => q.text),
        ['skill/pdf/SKILL.md', 'skill/pdf/reference.md', 'skill/pdf/scripts/extract.sh'],
      );
      // The safe choice comes first (Enter takes it): Merge where both sides edited, upstream elsewhere.
      assert.deepEqual(
        script.questions('choose').map((q) => (q.detail as string[])[0]),
        ['merge', 'upstream', 'upstream'],
      );
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'My own notes about PDFs.'));
      assert.equal(read(s.collection, 'skills/pdf/reference.md'), V2['skills/pdf/reference.md']);
      assert.equal(read(s.collection, 'skills/pdf/scripts/extract.sh'), V2['skills/pdf/scripts/extract.sh']);
    });

    it('"merge" on a conflicting file commits its conflict for the merge editor; "skip artifact" leaves it alone', async () => {
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      script.choose = () => 'skip-artifact';
      const skipped = await update(s.collection);
      assert.equal(skipped?.kind, 'skipped');
      assert.deepEqual(readTree(s.collection), before);

      script.choose = (q) => (q.rel === 'SKILL.md' ? 'merge' : 'upstream');
      script.merge = async (question) => {
        await resolveInMergeEditor(question.output, skillMd('Use the pdf tool.', 'Merged notes.'));
        return 'completed';
      };
      const merged = await update(s.collection);
      assert.equal(merged?.kind, 'updated', JSON.stringify(merged));
      await until(api, 'clean', () => api.store.find(s.collection)?.report?.state === 'clean');
      assert.equal(read(s.collection, SKILL), skillMd('Use the pdf tool.', 'Merged notes.'));
    });
  });

  describe('keep', () => {
    it('keeps every local file and writes nothing: the artifact stays where it was (DESIGN §5 step 6)', async () => {
      await setSetting('defaultStrategy', 'keep');
      const s = outdatedCollection('conflict');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'skipped', JSON.stringify(outcome));
      assert.deepEqual(readTree(s.collection), before);
      const model = await until(api, 'modified', () =>
        artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'modified'
          ? api.store.find(s.collection)
          : undefined,
      );
      assert.equal(artifact(model!, 'skill/pdf')?.resolvedSha, s.v1);
    });
  });

  describe('executable changes (v2 adds scripts/extract.sh)', () => {
    beforeEach(() => setSetting('defaultStrategy', 'merge'));

    it('asks in a modal naming each finding; No writes nothing and says why', async () => {
      const s = outdatedCollection('none');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      script.exec = () => 'cancel';
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'failed', JSON.stringify(outcome));
      const asked = script.asked.filter((a) => a.kind === 'exec');
      assert.equal(asked.length, 1);
      assert.match(asked[0]?.text ?? '', /^pdf: \d+ executable change\(s\)\. Apply them\?$/);
      const findings = (asked[0]?.detail ?? []) as string[];
      assert.ok(
        findings.some((line) => /skills\/pdf\/scripts\/extract\.sh.*\[skill-script\]/.test(line)),
        findings.join('\n'),
      );
      assert.ok(
        findings.some((line) => /extract\.sh:1: starts with a shebang/.test(line)),
        findings.join('\n'),
      );
      assert.deepEqual(readTree(s.collection), before, 'nothing written');
      const notice = await script.notice((n) => n.id === 'update-failed');
      assert.match(notice.message, /not approved/);
    });

    it('Show Changes opens their diff, then Apply writes them and the history records the approval', async () => {
      const s = outdatedCollection('none');
      await showCollections(api, s.collection);
      const answers: ('show' | 'apply')[] = ['show', 'apply'];
      script.exec = () => answers.shift() ?? 'apply';
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'updated', JSON.stringify(outcome));
      assert.equal(script.asked.filter((a) => a.kind === 'exec').length, 2, 'asked again after the diff');
      const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((tab) => tab.label);
      assert.ok(
        tabs.some((label) => /^Executable changes: pdf/.test(label)),
        tabs.join(', '),
      );
      assert.equal(read(s.collection, 'skills/pdf/scripts/extract.sh'), V2['skills/pdf/scripts/extract.sh']);
      const history = fs
        .readFileSync(path.join(s.collection, '.artifact-keeper', 'history.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map(
          (line) => JSON.parse(line) as { kind: string; approvals?: { how: string; findings: string[] }[] },
        );
      const last = history[history.length - 1];
      assert.equal(last?.kind, 'update');
      assert.equal(last?.approvals?.[0]?.how, 'interactive');
    });
  });

  describe('failure', () => {
    beforeEach(() => setSetting('defaultStrategy', 'overwrite'));

    it('undoes a failed update and says so: "Updating pdf failed: … Rolled back to snapshot S." [Show Log] [Retry]', async () => {
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      api.setFaultSpec(COMMIT_FAULT);
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'failed');
      const notice = await script.notice((n) => n.id === 'update-failed');
      assert.match(notice.message, /^Updating pdf failed: could not .+\. Rolled back to snapshot \S+\.$/);
      assert.deepEqual(
        notice.actions.map((a) => a.title),
        ['Show Log', 'Retry'],
      );
      assert.equal(notice.severity, 'error');
      assert.deepEqual(readTree(s.collection), before);
      await until(
        api,
        'modified (as before)',
        () => api.store.find(s.collection)?.report?.state === 'modified',
      );

      // Retry without the fault succeeds.
      api.setFaultSpec(undefined);
      const retried = await update(s.collection);
      assert.equal(retried?.kind, 'updated');
    });

    it('[Show Log] shows the log and keeps the failure on screen with its Retry; no [Roll Back] once rolled back', async () => {
      await setSetting('autoUndo', false);
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      api.setFaultSpec(COMMIT_FAULT);
      let pressed = 0;
      script.press = (n) => (n.id === 'update-failed' && pressed++ === 0 ? 'showLog' : undefined);
      const outcome = await update(s.collection);
      api.setFaultSpec(undefined);
      assert.equal(outcome?.kind, 'failed');
      const shown = (): number => script.notices.filter((n) => n.id === 'update-failed').length;
      for (let waited = 0; shown() < 2 && waited < 10_000; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(shown(), 2, 'the failure is shown again after Show Log');
      for (const notice of script.notices.filter((n) => n.id === 'update-failed')) {
        assert.match(notice.message, /Rolled back to snapshot/);
        assert.deepEqual(
          notice.actions.map((a) => a.title),
          ['Show Log', 'Retry'],
        );
      }
    });

    it('offers [Roll Back] when auto-undo is off, and it restores the pre-update snapshot in one click', async () => {
      await setSetting('autoUndo', false);
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      api.setFaultSpec(INTERRUPT_FAULT);
      script.press = (n) => (n.id === 'update-failed' ? 'rollback' : undefined);
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'failed');
      const notice = await script.notice((n) => n.id === 'update-failed');
      assert.deepEqual(
        notice.actions.map((a) => a.title),
        ['Show Log', 'Retry', 'Roll Back'],
      );
      assert.match(
        notice.message,
        /^Updating pdf failed: .+\. The undo did not complete; roll back to return to the state before the update\.$/,
      );
      api.setFaultSpec(undefined);
      await script.notice((n) => n.id === 'rollback-succeeded', 30_000);
      await until(
        api,
        'not interrupted any more',
        () => api.store.find(s.collection)?.report?.state === 'modified',
      );
      assert.deepEqual(readTree(s.collection), before);
    });

    it('finishes an undo that failed by itself when auto-undo is on', async () => {
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      api.setFaultSpec(INTERRUPT_FAULT);
      // The first recovery attempt runs with the same fault plan fresh; only its own first rename could fail,
      // so clear the fault as soon as the failure is known.
      const failing = update(s.collection);
      const outcome = await failing;
      api.setFaultSpec(undefined);
      assert.equal(outcome?.kind, 'failed');
      const notice = await script.notice((n) => n.id === 'update-failed');
      if (outcome?.kind === 'failed' && outcome.undone) {
        assert.match(notice.message, /Rolled back to snapshot \S+\.$/);
        assert.deepEqual(readTree(s.collection), before);
      } else {
        assert.ok(notice.actions.some((a) => a.id === 'rollback'));
      }
    });
  });

  describe('two writers', () => {
    it('reports "locked by …" when another process holds the writer lock, and writes nothing', async () => {
      await setSetting('defaultStrategy', 'merge');
      const s = outdatedCollection('separate');
      await showCollections(api, s.collection);
      const before = readTree(s.collection);
      const holder = await holdWriterLock(s.collection);
      try {
        const outcome = await update(s.collection);
        assert.equal(outcome?.kind, 'failed');
        const notice = await script.notice((n) => n.id === 'update-failed');
        assert.match(
          notice.message,
          new RegExp(
            `^Updating pdf failed: the collection is locked by lock-test \\(pid ${holder.pid}, hold\\) since .+\\. Nothing was changed\\.$`,
          ),
        );
        assert.equal(notice.severity, 'warning');
        assert.deepEqual(readTree(s.collection), before);
      } finally {
        await holder.release();
      }
    });
  });

  describe('update all and check for updates', () => {
    it('names the first three artifacts of a large outcome and counts the rest, so an update of thousands stays one line', () => {
      assert.equal(firstNames([]), '');
      assert.equal(firstNames(['pdf', 'docx', 'xlsx']), 'pdf, docx, xlsx');
      const many = Array.from({ length: 2000 }, (_, i) => `s${i}`);
      assert.equal(firstNames(many), 's0, s1, s2 and 1,997 more');
      const outcomes = [
        ...many.map((_, i) => ({ id: `skill/s${i}`, outcome: 'updated' as const })),
        ...Array.from({ length: 5 }, (_, i) => ({ id: `skill/c${i}`, outcome: 'conflicted' as const })),
        { id: 'agent/helper', outcome: 'failed' as const },
      ];
      assert.equal(
        summaryMessage(outcomes),
        'Update all: 2000 updated, 5 conflicted (c0, c1, c2 and 2 more), 1 failed (helper)',
      );
    });

    it('never says "up to date" when no upstream could be checked: it says so, and the tree marks each artifact', async () => {
      const s = outdatedCollection('none');
      await showCollections(api, s.collection);
      fs.renameSync(s.upstream.dir, `${s.upstream.dir}-gone`);
      try {
        const results = await vscode.commands.executeCommand<{ id: string; error?: string }[]>(
          'artifactKeeper.checkForUpdates',
          s.collection,
        );
        assert.equal(results?.filter((r) => r.error).length, 2);
        const notice = await script.notice((n) => n.id === 'check-done');
        assert.equal(notice.severity, 'warning');
        assert.match(
          notice.message,
          /^Could not check for updates\. 2 upstream\(s\) could not be checked\.$/,
        );
        assert.doesNotMatch(notice.message, /up to date|No updates/);
        const group = api.tree
          .getChildren(api.tree.getChildren().find((e) => e.dir === s.collection))
          .find((g) => g.kind === 'group' && g.type === 'skill');
        const item = api.tree.getTreeItem(api.tree.getChildren(group)[0]!);
        assert.match(String(item.description), /check failed/);
      } finally {
        fs.renameSync(`${s.upstream.dir}-gone`, s.upstream.dir);
      }
    });

    it('a pin with a newer tag upstream is no update: the tree and the check message show the hint', async () => {
      const upstream = makeUpstream(V1);
      const collection = makeCollection();
      cliOk(['add', `${upstream.dir}#skills/pdf@v1.0.0`, '--collection', collection]);
      upstream.commit(V2, 'second version', 'v2.0.0');
      await showCollections(api, collection);
      const results = await vscode.commands.executeCommand<{ id: string; available: boolean }[]>(
        'artifactKeeper.checkForUpdates',
        collection,
      );
      assert.deepEqual(
        results?.map((r) => [r.id, r.available]),
        [['skill/pdf', false]],
      );
      const notice = await script.notice((n) => n.id === 'check-done');
      assert.equal(notice.message, 'Everything is up to date (1 checked). Pinned: pdf (v2.0.0 available).');
      const group = api.tree
        .getChildren(api.tree.getChildren().find((e) => e.dir === collection))
        .find((g) => g.kind === 'group' && g.type === 'skill');
      const item = await until(api, 'the pin hint in the tree', () => {
        const found = api.tree.getTreeItem(api.tree.getChildren(group)[0]!);
        return /pinned/.test(String(found.description)) ? found : undefined;
      });
      assert.equal(item.description, 'v1.0.0 · pinned (v2.0.0 available)');
      assert.doesNotMatch(api.statusBar().text, /cloud-download/);
    });

    it('an undone update is known again: the status bar and the tree show it available', async () => {
      await setSetting('defaultStrategy', 'merge');
      const s = outdatedCollection('none');
      await showCollections(api, s.collection);
      await vscode.commands.executeCommand('artifactKeeper.checkForUpdates', s.collection);
      await until(api, 'update known', () => /\$\(cloud-download\) 1/.test(api.statusBar().text));
      script.press = (n) => (n.id === 'update-succeeded' ? 'undo' : undefined);
      const outcome = await update(s.collection);
      assert.equal(outcome?.kind, 'updated');
      await script.notice((n) => n.id === 'undo-succeeded', 30_000);
      await until(
        api,
        'the update known again after the undo',
        () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'update-available',
      );
      assert.match(api.statusBar().text, /\$\(cloud-download\) 1/);
    });

    it('checks, shows the update as available, and updates every artifact', async () => {
      await setSetting('defaultStrategy', 'merge');
      const s = outdatedCollection('none');
      await showCollections(api, s.collection);
      const results = await vscode.commands.executeCommand<{ id: string; available: boolean }[]>(
        'artifactKeeper.checkForUpdates',
        s.collection,
      );
      assert.deepEqual(
        results?.map((r) => [r.id, r.available]),
        [
          ['skill/pdf', true],
          ['command/review', false],
        ],
      );
      const notice = await script.notice((n) => n.id === 'check-done');
      assert.match(notice.message, /^1 update\(s\) available: pdf \([0-9a-f]{7}\)\.$/);
      const model = await until(api, 'update-available', () =>
        artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'update-available'
          ? api.store.find(s.collection)
          : undefined,
      );
      const group = api.tree
        .getChildren(api.tree.getChildren().find((e) => e.dir === s.collection))
        .find((g) => g.kind === 'group' && g.type === 'skill');
      const item = api.tree.getTreeItem(api.tree.getChildren(group)[0]!);
      assert.match(String(item.description), /update to|update available/);
      assert.match(api.statusBar().text, /\$\(cloud-download\) 1/);
      void model;
      const outcome = await vscode.commands.executeCommand<UpdateOutcome>(
        'artifactKeeper.updateAll',
        s.collection,
      );
      assert.equal(outcome?.kind, 'updated');
      assert.equal(read(s.collection, SKILL), V2[SKILL]);
      // The update clears the availability: the pinned sha is now the latest.
      await vscode.commands.executeCommand('artifactKeeper.checkForUpdates', s.collection);
      await until(
        api,
        'no update left',
        () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'clean',
      );
    });
  });
});

/** Fails the rename that commits collection.lock: the transaction undoes itself cleanly. */
export const COMMIT_FAULT = process.env.AK_COMMIT_FAULT ?? 'rename:1:EIO:collection.lock';
/** Fails the commit rename and the undo's renames too: the transaction is left interrupted. */
export const INTERRUPT_FAULT =
  process.env.AK_INTERRUPT_FAULT ?? 'rename:1:EIO:collection.lock,rename:2:EIO:skills/pdf/SKILL.md';
