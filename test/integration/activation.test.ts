// Activation: fast, every contributed command registered, the API in place, the view and welcome content.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { getApi, until } from './support/harness.js';
import { cliOk, REPO_ROOT } from './support/fixtures.js';

describe('activation', () => {
  it('activates within 50 ms and reports the figure', async () => {
    const api = await getApi();
    assert.equal(typeof api.activationMs, 'number');
    // The figure is also in the log ("[Main] activated in N ms"); print it for the run's output.
    console.log(
      `      activation took ${api.activationMs.toFixed(1)} ms (workspace: ${vscode.workspace.workspaceFolders?.[0]?.uri.fsPath})`,
    );
    assert.ok(api.activationMs <= 50, `activation took ${api.activationMs} ms`);
  });

  it('registers every command it contributes', async () => {
    await getApi();
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      contributes: { commands: { command: string }[] };
    };
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = pkg.contributes.commands.map((c) => c.command).filter((id) => !registered.has(id));
    assert.deepEqual(missing, []);
  });

  it('finishes discovery after activation and exposes the status bar', async () => {
    const api = await getApi();
    await api.store.discover();
    assert.equal(api.store.isDiscovered, true);
    assert.equal(typeof api.statusBar().text, 'string');
    // With a collection as the workspace (e.g. --workspace on the 1,000-skill bench collection), report
    // how long its first, background consistency check took to arrive.
    const started = performance.now();
    for (const collection of api.store.collections) {
      await api.store.whenChecked(collection);
      console.log(
        `      ${collection.name}: ${collection.report?.artifacts.length ?? 0} artifacts, ${collection.report?.state}, first check done ${(performance.now() - started).toFixed(0)} ms after this test started`,
      );
    }
  });

  it('keeps a workspace collection while a transaction has its collection.toml aside, and drops it once gone', async function () {
    this.timeout(60_000);
    const api = await getApi();
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    assert.ok(root, 'a workspace folder');
    const dir = path.join(root, 'nested-collection');
    const manifest = path.join(dir, 'collection.toml');
    const journal = path.join(dir, '.artifact-keeper', 'journal.json');
    try {
      fs.mkdirSync(dir);
      cliOk(['init', '--name', 'nested', '--collection', dir]);
      await api.store.discover();
      const shown = await until(api, 'the nested collection to be checked', () => {
        const found = api.store.find(dir);
        return found?.checked ? found : undefined;
      });

      // The moment of a restore's renames: the manifest aside, the journal there (the watcher reports the
      // delete and starts a discovery of its own; this one is awaited).
      fs.writeFileSync(journal, '{}\n');
      fs.renameSync(manifest, `${manifest}.aside`);
      await api.store.discover();
      assert.equal(api.store.find(dir), shown, 'the same collection, kept while its journal is there');
      fs.renameSync(`${manifest}.aside`, manifest);
      fs.rmSync(journal);
      await api.store.discover();
      assert.equal(api.store.find(dir), shown, 'the same collection once the transaction ended');

      // Gone without a journal: no longer a collection.
      fs.rmSync(manifest);
      await api.store.discover();
      assert.equal(api.store.find(dir), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await api.store.discover();
    }
  });
});
