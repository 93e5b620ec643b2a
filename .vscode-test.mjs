// The integration suite on desktop VS Code through @vscode/test-electron, for machines with internet and
// a display (it downloads VS Code from Microsoft's update server). `npm run test:electron` runs it; the
// same out/test/integration/index.js runs here inside code-server (scripts/run-integration-tests.mjs).
// Env: VSCODE_VERSION (default 'stable'; '1.100.0' is the minimum engines.vscode), INTEGRATION_GREP.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export const config = {
  extensionDevelopmentPath: root,
  extensionTestsPath: path.join(root, 'out/test/integration/index.js'),
  version: process.env.VSCODE_VERSION || 'stable',
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { runTests } = await import('@vscode/test-electron');
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'ak-electron-workspace-'));
  try {
    await runTests({
      ...config,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    });
  } catch (err) {
    console.error(`integration (electron): ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}
