// The extension as a user installs it: the .vsix (`code --install-extension`) in a fresh extensions folder,
// not the development folder. Run by scripts/run-e2e.mjs, which packages dist/ (or takes E2E_VSIX) and
// installs it before the server starts, for every scenario marked `fromVsix`.
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, buildSample, removeOnExit } from './support/collection.mjs';

const { version: VERSION } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));

/** Installed from the .vsix: it activates on the workspace's collection.toml and its view shows the sample. */
export async function installedVsixShowsCollection({ page, screenshot, runCommand, log }) {
  // No "[Extension Development Host]": the workbench runs the installed copy, not the repository.
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  const title = await page.title();
  if (title.includes('[Extension Development Host]')) throw new Error(`a development host: ${title}`);
  await page.locator('.activitybar .action-item a[aria-label^="Artifact Keeper"]').first().click();
  for (const label of ['my-artifacts', 'pdf', 'docx', 'review', 'helper']) {
    await page
      .locator('.sidebar .monaco-list-row', {
        has: page.locator('.label-name', { hasText: new RegExp(`^${label}$`) }),
      })
      .first()
      .waitFor({ timeout: 30_000 });
  }
  // The check buildSample ran is shown: the tree reads the collection's state, not just its names.
  await page
    .locator('.sidebar .monaco-list-row', { hasText: /update/ })
    .first()
    .waitFor({ timeout: 30_000 });
  await page
    .locator('.statusbar-item', { hasText: /Artifacts|modified|update/ })
    .first()
    .waitFor();
  await screenshot('installed-vsix-view');
  // Activated (not merely installed): the running extensions list it. (The Extensions view would ask the
  // gallery, which is offline here.)
  await runCommand('Developer: Show Running Extensions');
  await page
    .locator('.editor-container .monaco-list-row', { hasText: `Artifact Keeper${VERSION}` })
    .first()
    .waitFor({ timeout: 30_000 });
  log('title:', title);
}
installedVsixShowsCollection.fromVsix = true;
installedVsixShowsCollection.setupWorkspace = (dir) => {
  const upstream = `${dir}-upstream`;
  removeOnExit(upstream);
  buildSample(dir, upstream, {
    settings: {
      'artifactKeeper.checkInterval': 0,
      'workbench.startupEditor': 'none',
      'git.enabled': false,
    },
  });
};
