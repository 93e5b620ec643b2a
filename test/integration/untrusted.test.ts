// Workspace trust: in an untrusted workspace collections are read-only. These tests run only when the
// suite is started with workspace trust on (`node scripts/run-integration-tests.mjs --trust`, which
// opens the workspace untrusted), as `npm test` does in its second integration pass; a trusted run does
// not register them at all.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { outdatedCollection, read, removeTempDirs } from './support/fixtures.js';
import { getApi, hideCollections, installScript, showCollections } from './support/harness.js';

if (!vscode.workspace.isTrusted) suite();

function suite(): void {
  describe('untrusted workspace', function () {
    this.timeout(60_000);
    afterEach(async () => {
      await hideCollections(await getApi());
      removeTempDirs();
    });

    it('shows the status but refuses updates, restores and recovery, writing nothing', async () => {
      const api = await getApi();
      const script = installScript(api);
      const s = outdatedCollection('separate');
      const cache = path.join(s.collection, '.artifact-keeper/status-cache.json');
      const cacheBefore = fs.statSync(cache, { throwIfNoEntry: false })?.mtimeMs;
      await showCollections(api, s.collection);
      assert.equal(api.store.find(s.collection)?.report?.state, 'modified');
      const before = read(s.collection, 'skills/pdf/SKILL.md');
      await vscode.commands.executeCommand('artifactKeeper.updateArtifact', {
        collection: s.collection,
        artifact: 'skill/pdf',
      });
      await vscode.commands.executeCommand('artifactKeeper.recover', s.collection);
      const notices = script.notices.filter((n) => n.id === 'error' || n.id === 'update-failed');
      assert.ok(notices.length >= 2);
      for (const notice of notices) assert.match(notice.message, /not trusted/);
      assert.equal(read(s.collection, 'skills/pdf/SKILL.md'), before);
      // Not even the status cache is written in an untrusted workspace.
      assert.equal(fs.statSync(cache, { throwIfNoEntry: false })?.mtimeMs, cacheBefore);
    });
  });
}
