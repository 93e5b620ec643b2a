// First integration test: the extension under development is loaded by the real extension host,
// activates, and the command API answers.
import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';

const EXTENSION_ID = 'artifact-keeper.artifact-keeper';

describe('smoke', () => {
  it('the extension under development is installed', () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded`);
    assert.equal(ext.packageJSON.name, 'artifact-keeper');
  });

  it('activates', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext);
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  it('vscode.commands.getCommands works', async () => {
    const commands = await vscode.commands.getCommands(true);
    assert.ok(commands.length > 0, 'no commands');
    assert.ok(commands.includes('workbench.action.closeActiveEditor'), 'a built-in command is missing');
  });
});
