// E2E smoke scenarios, run by scripts/run-e2e.mjs: each exported function is one scenario, called with
// { page, workspace, server, screenshot, runCommand, log } on a fresh server and workspace.
import fs from 'node:fs';
import path from 'node:path';

const EXTENSION_ID = 'artifact-keeper.artifact-keeper';

/** The workbench loads as an Extension Development Host on the workspace; screenshot of it. */
export async function workbenchLoads({ page, workspace, screenshot, log }) {
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  // The title shows "[Extension Development Host]" only if the server honoured extensionDevelopmentPath.
  await page.waitForFunction(() => document.title.includes('[Extension Development Host]'), null, {
    timeout: 30_000,
  });
  const folderName = path.basename(workspace);
  await page
    .locator('.explorer-folders-view, .pane-header', { hasText: new RegExp(folderName, 'i') })
    .first()
    .waitFor({ timeout: 30_000 });
  log('title:', await page.title());
  await page.waitForTimeout(1000); // let the layout settle
  await screenshot('workbench');
}

/** A workspace holding collection.toml activates the extension (activationEvents: workspaceContains). */
export async function activatesOnCollectionToml({ page, runCommand }) {
  await runCommand('Developer: Show Running Extensions');
  await page
    .locator('.editor-container .monaco-list-row', { hasText: EXTENSION_ID })
    .first()
    .waitFor({ timeout: 30_000 });
}
activatesOnCollectionToml.setupWorkspace = (dir) => {
  fs.writeFileSync(path.join(dir, 'collection.toml'), '# e2e smoke workspace\n');
};
