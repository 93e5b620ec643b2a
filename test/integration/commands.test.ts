// The remaining commands: show diff against upstream, open manifest, add artifact from git, create and
// open a collection, the status quick pick of findings with fixes, refresh, show changes; error wording.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import { makeUpstream, outdatedCollection, tempDir, writeFiles } from './support/fixtures.js';
import { artifact, showCollections, until } from './support/harness.js';
import { useScriptedHarness } from './support/harness.js';
import type { ScriptedPrompter } from './support/scriptedPrompter.js';

describe('commands', function () {
  this.timeout(90_000);
  let api: ArtifactKeeperApi;
  let script: ScriptedPrompter;

  useScriptedHarness((a, s) => {
    api = a;
    script = s;
  });

  it('Show Diff Against Upstream: incoming and local changes of an outdated artifact', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    const count = await vscode.commands.executeCommand<number>('artifactKeeper.showDiff', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    assert.equal(count, 3, 'SKILL.md, reference.md and scripts/extract.sh differ from upstream');
  });

  it('Show Diff Against Upstream: local edits of an up-to-date artifact, offline', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    await vscode.commands.executeCommand('artifactKeeper.updateAll', s.collection);
    writeFiles(s.collection, { 'skills/pdf/reference.md': 'my reference\n' });
    const count = await vscode.commands.executeCommand<number>('artifactKeeper.showDiff', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    assert.equal(count, 1);
  });

  it('Open Manifest opens collection.toml', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    await vscode.commands.executeCommand('artifactKeeper.openManifest', s.collection);
    assert.equal(
      vscode.window.activeTextEditor?.document.uri.fsPath,
      path.join(s.collection, 'collection.toml'),
    );
  });

  it('Add Artifact from Git… adds from a local repository with #path', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    const other = makeUpstream({
      'agents/helper.md': '---\nname: helper\ndescription: Helps.\n---\nI help.\n',
    });
    script.answers.set('sourceText', `${other.dir}#agents/helper.md`);
    script.answers.set('pickArtifactType', (items) => items[0]?.value);
    const id = await vscode.commands.executeCommand<string>('artifactKeeper.addArtifact', s.collection);
    assert.equal(id, 'agent/helper');
    assert.match(
      (await script.notice((n) => n.id === 'artifact-added')).message,
      /^Added agent\/helper \([0-9a-f]{7}\)\.$/,
    );
    await until(
      api,
      'the new artifact',
      () => artifact(api.store.find(s.collection)!, 'agent/helper')?.state === 'clean',
    );
  });

  it('Add Artifact from Git… words a bad source as a sentence', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    script.answers.set('sourceText', '-oops');
    script.answers.set('pickArtifactType', (items) => items[0]?.value);
    await vscode.commands.executeCommand('artifactKeeper.addArtifact', s.collection);
    const notice = await script.notice((n) => n.id === 'error');
    assert.match(
      notice.message,
      /^"-oops" cannot be used as a source \(.+\)\. Use a git URL, a local repository, owner\/repo\/path@ref or a folder\.$/,
    );
  });

  it('Create Collection… and Open Collection…', async () => {
    const dir = path.join(tempDir(), 'fresh');
    fs.mkdirSync(dir);
    script.answers.set('pickFolder', vscode.Uri.file(dir));
    script.answers.set('collectionName', 'fresh');
    const created = await vscode.commands.executeCommand<string>('artifactKeeper.createCollection');
    assert.equal(created, dir);
    assert.ok(fs.existsSync(path.join(dir, 'collection.toml')));
    await until(api, 'the new collection', () => api.store.find(dir)?.report?.state === 'clean');

    const empty = tempDir();
    script.answers.set('pickFolder', vscode.Uri.file(empty));
    const opened = await vscode.commands.executeCommand('artifactKeeper.openCollection');
    assert.equal(opened, undefined);
    assert.match(
      (await script.notice((n) => n.id === 'not-a-collection')).message,
      /has no collection\.toml/,
    );
  });

  it('Create Collection in a Claude Code project (.claude/) asks first, and writes nothing on no', async () => {
    const project = path.join(tempDir(), 'my-app');
    fs.mkdirSync(path.join(project, '.claude', 'skills'), { recursive: true });
    script.answers.set('pickFolder', vscode.Uri.file(project));
    script.answers.set('collectionName', 'my-app');
    script.answers.set('confirmProjectCollection', false);
    const created = await vscode.commands.executeCommand<string>('artifactKeeper.createCollection');
    assert.equal(created, undefined);
    assert.deepEqual(fs.readdirSync(project), ['.claude']);
    const asked = script.questions('confirm').find((q) => q.id === 'confirmProjectCollection');
    assert.match(String(asked?.text), /my-app is a Claude Code project/);
  });

  it('Show Collection Status lists findings with their fixes and runs the chosen fix', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    let offered: string[] = [];
    script.answers.set('pickFix', (items) => {
      offered = items.map((i) => `${i.label} → ${i.description ?? ''}`);
      return items.find((i) => i.description === 'Show diff against upstream')?.value;
    });
    await vscode.commands.executeCommand('artifactKeeper.showStatus');
    assert.ok(
      offered.some((o) => /skill\/pdf has local edits → Show diff against upstream/.test(o)),
      offered.join('\n'),
    );
    assert.ok(
      offered.some((o) => /skill\/pdf has local edits → Restore a snapshot…/.test(o)),
      offered.join('\n'),
    );
  });

  it('Keep My Edits, the status fix for local edits: the lock takes the files, the artifact reads clean, undoable', async () => {
    const s = outdatedCollection('separate');
    await showCollections(api, s.collection);
    assert.equal(artifact(api.store.find(s.collection)!, 'skill/pdf')?.state, 'modified');
    const edited = fs.readFileSync(path.join(s.collection, 'skills/pdf/SKILL.md'), 'utf8');
    script.answers.set(
      'pickFix',
      (items) => items.find((i) => i.description === 'Keep my edits (re-lock)')?.value,
    );
    await vscode.commands.executeCommand('artifactKeeper.showStatus');
    await until(
      api,
      'pdf reads clean',
      () => artifact(api.store.find(s.collection)!, 'skill/pdf')?.state === 'clean',
    );
    assert.equal(
      fs.readFileSync(path.join(s.collection, 'skills/pdf/SKILL.md'), 'utf8'),
      edited,
      'no file touched',
    );
    const history = fs.readFileSync(path.join(s.collection, '.artifact-keeper', 'history.jsonl'), 'utf8');
    assert.match(history.trim().split('\n').pop() ?? '', /"kind":"relock"/);
    await script.notice((n) => /your edits are now its locked content/.test(n.message));
  });

  it('Refresh re-reads the collections', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    await vscode.commands.executeCommand('artifactKeeper.refresh');
    assert.equal(api.store.find(s.collection)?.report?.state, 'clean');
  });

  it('Show Changes of Last Update opens the changes of the last update', async () => {
    const s = outdatedCollection('none');
    await showCollections(api, s.collection);
    await vscode.commands.executeCommand('artifactKeeper.updateAll', s.collection);
    const count = await vscode.commands.executeCommand<number>('artifactKeeper.showChanges', s.collection);
    assert.ok((count ?? 0) >= 3, `changes: ${count}`);
  });

  it('Update Artifact on a collection that is busy says so instead of starting a second writer', async () => {
    const s = outdatedCollection('conflict');
    await showCollections(api, s.collection);
    await vscode.workspace
      .getConfiguration('artifactKeeper')
      .update('defaultStrategy', 'overwrite', vscode.ConfigurationTarget.Global);
    let release!: () => void;
    let asked!: () => void;
    const merging = new Promise<void>((resolve) => (asked = resolve));
    const waiting = new Promise<'apply' | 'cancel'>((resolve) => (release = () => resolve('cancel')));
    // The update waits on its preview (overwrite) while the second command comes in.
    script.review = () => {
      asked();
      return waiting;
    };
    const first = vscode.commands.executeCommand('artifactKeeper.updateArtifact', {
      collection: s.collection,
      artifact: 'skill/pdf',
    });
    await merging;
    await vscode.commands.executeCommand('artifactKeeper.updateAll', s.collection);
    const notice = await script.notice((n) => n.id === 'error');
    assert.match(
      notice.message,
      /^test-collection is busy \(Updating pdf\)\. Try again when it has finished\.$/,
    );
    release();
    await first;
    await vscode.workspace
      .getConfiguration('artifactKeeper')
      .update('defaultStrategy', undefined, vscode.ConfigurationTarget.Global);
  });
});
