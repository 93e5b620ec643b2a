// The Deployed here view and the project moves from VS Code (DESIGN §10): Deploy to Project… writes the
// files and the tracking file, the view shows drift, a deploy over project edits asks and merges, Pull
// into Collection brings project edits back, Undeploy removes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactKeeperApi } from '../../src/extension/api.js';
import type { DeployedElement } from '../../src/extension/deployedView.js';
import { outdatedCollection, read, skillMd, writeFiles } from './support/fixtures.js';
import { showCollections, until } from './support/harness.js';
import { useScriptedHarness } from './support/harness.js';
import type { ScriptedPrompter } from './support/scriptedPrompter.js';

describe('deployed here: deploy, drift, update over edits, pull, undeploy', function () {
  this.timeout(120_000);
  let api: ArtifactKeeperApi;
  let script: ScriptedPrompter;
  const project = (): string => vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';

  useScriptedHarness(
    (a, s) => {
      api = a;
      script = s;
    },
    async () => {
      fs.rmSync(path.join(project(), '.claude'), { recursive: true, force: true });
    },
  );

  function element(id: string): DeployedElement {
    const p = api.deployed.projects.find((x) => x.folder === project());
    const entry = p?.entries.find((e) => e.id === id);
    assert.ok(p && entry, `${id} listed in the Deployed view`);
    return { kind: 'deployed', project: p, entry };
  }

  async function driftOf(id: string, state: string): Promise<void> {
    await until(api, `${id} ${state}`, () => {
      void api.deployed.refresh();
      const p = api.deployed.projects.find((x) => x.folder === project());
      return p?.entries.find((e) => e.id === id)?.state === state ? true : undefined;
    });
  }

  it('deploys from the tree, lists drift, merges over project edits, pulls, undeploys', async () => {
    const s = outdatedCollection('none');
    const [collection] = await showCollections(api, s.collection);
    const id = collection?.report?.artifacts.find((a) => a.name === 'pdf')?.id;
    assert.ok(id);
    const claude = path.join(project(), '.claude');

    // Deploy to Project…: the workspace folder, default profile.
    script.answers.set('pickDeployTarget', (items) => items.find((i) => i.value === project())?.value);
    await vscode.commands.executeCommand('artifactKeeper.deployToProject', {
      collection: s.collection,
      artifact: id,
    });
    assert.equal(read(claude, 'skills/pdf/SKILL.md'), read(s.collection, 'skills/pdf/SKILL.md'));
    assert.match(read(claude, '.skillmeat-deployed.toml'), /name = "pdf"/);
    await driftOf(id, 'in-sync');
    assert.match(
      (await script.notice((n) => n.id === 'project-moved')).message,
      /^Deployed to .*: .*deployed$/,
    );

    // Edits on both sides: the view says conflict, the badge counts it, the status bar names it.
    writeFiles(claude, {
      'skills/pdf/SKILL.md': skillMd('Use the pdf tool, project way.', 'Version one notes.'),
    });
    writeFiles(s.collection, { 'skills/pdf/SKILL.md': skillMd('Use the pdf tool.', 'Collection notes.') });
    await driftOf(id, 'conflict');
    await until(api, 'status bar drift', () =>
      /1 deployed drifting/.test(api.statusBar().text) ? true : undefined,
    );
    assert.match(api.statusBar().tooltip, /pdf \(conflict\)/);

    // Show Changes: three ways, the copy as deployed (from the snapshot store) against each side.
    const shown = await vscode.commands.executeCommand<
      { title: string; original: string; modified: string }[]
    >('artifactKeeper.deployed.showChanges', element(id));
    assert.deepEqual(
      shown.map((c) => c.title),
      ['SKILL.md (as deployed ↔ project)', 'SKILL.md (as deployed ↔ collection)'],
    );
    const asDeployed = await vscode.workspace.openTextDocument(vscode.Uri.parse(shown[0]?.original ?? ''));
    assert.match(asDeployed.getText(), /Version one notes\./);
    assert.doesNotMatch(asDeployed.getText(), /project way|Collection notes/);
    assert.equal(vscode.Uri.parse(shown[0]?.modified ?? '').fsPath, path.join(claude, 'skills/pdf/SKILL.md'));
    assert.equal(
      vscode.Uri.parse(shown[1]?.modified ?? '').fsPath,
      path.join(s.collection, 'skills/pdf/SKILL.md'),
    );

    // Update from Collection is refused over the project edits, then merged through the modal's answer.
    script.answers.set('deployOverEdits', 'merge');
    await vscode.commands.executeCommand('artifactKeeper.deployed.update', element(id));
    const asked = script.asked.find((q) => q.id === 'deployOverEdits');
    assert.ok(asked?.modal, 'asked in a modal');
    assert.deepEqual(asked.detail, ['merge', 'overwrite']);
    const merged = read(claude, 'skills/pdf/SKILL.md');
    assert.match(merged, /project way/);
    assert.match(merged, /Collection notes\./);

    // Pull into Collection: the project's edit lands in the collection; drift reads in-sync.
    await driftOf(id, 'modified');
    await vscode.commands.executeCommand('artifactKeeper.deployed.pull', element(id));
    assert.match(read(s.collection, 'skills/pdf/SKILL.md'), /project way/);
    await driftOf(id, 'in-sync');

    // Undeploy asks in a modal, then removes the files and the record.
    script.answers.set('confirmUndeploy', true);
    await vscode.commands.executeCommand('artifactKeeper.deployed.undeploy', element(id));
    assert.ok(script.asked.find((q) => q.id === 'confirmUndeploy')?.modal);
    assert.equal(fs.existsSync(path.join(claude, 'skills/pdf')), false);
    const tracking = path.join(claude, '.skillmeat-deployed.toml');
    assert.ok(!fs.existsSync(tracking) || !/name = "pdf"/.test(fs.readFileSync(tracking, 'utf8')));
    await until(api, 'the view empties', () => {
      void api.deployed.refresh();
      return api.deployed.getChildren().length === 0 ? true : undefined;
    });
  });

  it('an edit written in the project shows up by itself (the file watcher refreshes the view)', async () => {
    const s = outdatedCollection('none');
    const [collection] = await showCollections(api, s.collection);
    const id = collection?.report?.artifacts.find((a) => a.name === 'review')?.id;
    assert.ok(id);
    script.answers.set('pickDeployTarget', (items) => items.find((i) => i.value === project())?.value);
    await vscode.commands.executeCommand('artifactKeeper.deployToProject', {
      collection: s.collection,
      artifact: id,
    });
    await driftOf(id, 'in-sync');
    // Written on disk by another program; no refresh called from here on.
    fs.appendFileSync(path.join(project(), '.claude/commands/review.md'), 'A project note.\n');
    await until(api, 'the watcher to show the edit', () => {
      const p = api.deployed.projects.find((x) => x.folder === project());
      return p?.entries.find((e) => e.id === id)?.state === 'modified' ? true : undefined;
    });
  });

  it("Undo in the deploy's notification takes the deployment back out of the project", async () => {
    const s = outdatedCollection('none');
    const [collection] = await showCollections(api, s.collection);
    const id = collection?.report?.artifacts.find((a) => a.name === 'review')?.id;
    assert.ok(id);
    const claude = path.join(project(), '.claude');
    script.answers.set('pickDeployTarget', (items) => items.find((i) => i.value === project())?.value);
    script.press = (notice) => (notice.id === 'project-moved' ? 'undo' : undefined);
    await vscode.commands.executeCommand('artifactKeeper.deployToProject', {
      collection: s.collection,
      artifact: id,
    });
    assert.ok(fs.existsSync(path.join(claude, 'commands/review.md')), 'deployed first');
    await until(api, 'the undo to take the file out', () =>
      fs.existsSync(path.join(claude, 'commands/review.md')) ? undefined : true,
    );
    await until(api, 'the view to drop it', () => {
      void api.deployed.refresh();
      const p = api.deployed.projects.find((x) => x.folder === project());
      return p?.entries.some((e) => e.id === id) ? undefined : true;
    });
  });
});
