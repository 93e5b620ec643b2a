// Runs the integration tests (out/test/integration/index.js, compiled from test/integration/) inside the
// real extension host of a private VS Code server, through a headless Chromium workbench.
// Needs: bash scripts/setup-vscode.sh, npm run build (dist/extension.js), npm run compile-tests.
//
// Usage: node scripts/run-integration-tests.mjs [--workspace DIR] [--trust]
//   --workspace DIR / env INTEGRATION_WORKSPACE: the folder the workbench opens (default: a fresh empty
//     temp folder, removed afterwards; tests that need files make their own temp copies);
//   --trust / env INTEGRATION_TRUST=1: keep workspace trust on (the workspace starts untrusted);
//   env INTEGRATION_TIMEOUT_MS (default 600000), INTEGRATION_GREP (mocha grep, read by the test index),
//   VERBOSE=1 (browser console), VSCODE_SERVER_LOG=1 (server output), KEEP_VSCODE_RUN=1.
// Prints the tests' output and closes with `integration: N passed, N failed`; exits with the tests' code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { REPO_ROOT, startServer, openWorkbench } from './vscode-server.mjs';

const argv = process.argv.slice(2);
const argValue = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const timeoutMs = Number(process.env.INTEGRATION_TIMEOUT_MS || 600_000);
const trust = argv.includes('--trust') || process.env.INTEGRATION_TRUST === '1';
const testsPath = path.join(REPO_ROOT, 'out/test/integration/index.js');

for (const [file, hint] of [
  [path.join(REPO_ROOT, 'dist/extension.js'), 'npm run build'],
  [testsPath, 'npm run compile-tests'],
]) {
  if (!fs.existsSync(file)) {
    console.error(`${path.relative(REPO_ROOT, file)} is missing: run ${hint}`);
    console.log('integration: 0 passed, 1 failed');
    process.exit(1);
  }
}

let workspace = argValue('--workspace') || process.env.INTEGRATION_WORKSPACE;
let ownWorkspace = false;
if (workspace) {
  workspace = path.resolve(workspace);
} else {
  workspace = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'ak-it-workspace-'));
  ownWorkspace = true;
}

const t0 = Date.now();
let summary; // [passed, failed] from the test index's closing line
let server;
let wb;
let code = 1;
let reason = '';
let diagnose = false; // dump browser errors and the server log (not for plain test failures)
try {
  server = await startServer({ workspace, trust, env: { ARTIFACT_KEEPER_TEST: '1' } });
  wb = await openWorkbench({
    url: server.url,
    folder: workspace,
    extensionDevelopmentPath: REPO_ROOT,
    extensionTestsPath: testsPath,
    onLog: (type, args) => {
      const text = util.format(...(args || []));
      const m = /^integration: (\d+) passed, (\d+) failed\s*$/m.exec(text);
      if (m) {
        summary = [Number(m[1]), Number(m[2])];
        return; // printed once, as this runner's closing line
      }
      (type === 'error' ? process.stderr : process.stdout).write(text + '\n');
    },
  });
  let timer;
  const result = await Promise.race([
    wb.exitCode,
    new Promise((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (result === 'timeout') {
    diagnose = true;
    reason = `timed out after ${timeoutMs} ms without an exit code from the extension host`;
    const title = await wb.page.title().catch(() => '?');
    reason += `\nwindow title: ${title}`;
    if (!title.includes('[Extension Development Host]')) reason += ' (the test payload was ignored)';
  } else {
    code = Number(result);
    if (code !== 0) reason = `the tests exited with code ${code}`;
  }
} catch (e) {
  diagnose = true;
  reason = e instanceof Error ? e.stack || e.message : String(e);
} finally {
  if (diagnose && wb) console.error(`--- browser errors (last) ---\n${wb.browserErrors()}\n---`);
  await wb?.close();
  if (diagnose && server) console.error(`--- server log (tail) ---\n${server.logTail(40)}\n---`);
  await server?.stop();
  if (ownWorkspace) fs.rmSync(workspace, { recursive: true, force: true });
}

if (code === 0 && !summary) {
  code = 1; // exit 0 without the index's summary line: something is off
  reason = 'the tests exited 0 but printed no "integration: N passed, N failed" line';
}
if (reason) console.error(`integration: ${reason}`);
const [passed, failed] = summary ?? [0, 1];
console.log(`(integration tests exit code ${code} after ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
console.log(`integration: ${passed} passed, ${code !== 0 && failed === 0 ? 1 : failed} failed`);
process.exit(code === 0 ? 0 : 1);
