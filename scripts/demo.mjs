// `npm run demo`: a sample collection with a local upstream that has newer versions, and a VS Code (the
// code-server 4.100.3 that scripts/setup-vscode.sh installs) running Artifact Keeper on it. Prints the
// URL to open and keeps running until Ctrl-C. Everything lives in .tmp/demo/ (recreated on each run).
//
// What to try in the Artifacts view (activity bar):
//   - pdf has a local edit that conflicts with upstream: Update Artifact → the merge editor → Complete Merge;
//   - docx is simply outdated: Update Artifact (merge applies it at once) → [Undo Update] / [Show Changes];
//   - flaky fails its first update (an injected IO fault): "Updating flaky failed: … Rolled back to
//     snapshot …" → [Roll Back] or [Retry] (the second attempt succeeds);
//   - Artifact Keeper: Restore Snapshot (palette) → "demo start" → preview → Restore;
//   - the status bar item (left) → the findings and their fixes; set the strategy to overwrite or prompt
//     in the settings (artifactKeeper.defaultStrategy) to see the preview or the per-file walk.
// Env: PORT (default 8080), DEMO_DIR (default .tmp/demo).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SERVER_MAIN, startServer, workbenchUrl } from './vscode-server.mjs';

const demoDir = path.resolve(process.env.DEMO_DIR || path.join(REPO_ROOT, '.tmp/demo'));
const port = Number(process.env.PORT || 8080);
const say = (line) => console.log(`[demo] ${line}`);

function newer(output, ...inputs) {
  if (!fs.existsSync(output)) return false;
  const built = fs.statSync(output).mtimeMs;
  const latest = (dir) =>
    fs.readdirSync(dir, { recursive: true, withFileTypes: true }).reduce((max, entry) => {
      if (!entry.isFile()) return max;
      return Math.max(max, fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
    }, 0);
  return inputs.every((input) => latest(input) <= built);
}

if (
  !newer(path.join(REPO_ROOT, 'dist/extension.js'), path.join(REPO_ROOT, 'src')) ||
  !fs.existsSync(path.join(REPO_ROOT, 'dist/cli.js'))
) {
  say('building the extension and the CLI (npm run build)');
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'esbuild.mjs')], { cwd: REPO_ROOT, stdio: 'inherit' });
}
if (!fs.existsSync(SERVER_MAIN)) {
  say('installing code-server 4.100.3 and chromium (bash scripts/setup-vscode.sh)');
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts/setup-vscode.sh')], { stdio: 'inherit' });
}

const { buildSample, skillMd } = await import('../test/e2e/support/collection.mjs');

fs.rmSync(demoDir, { recursive: true, force: true });
const collection = path.join(demoDir, 'my-artifacts');
const upstream = path.join(demoDir, 'upstream-repo');
say(`creating the sample collection in ${collection}`);
const flaky = (notes) =>
  skillMd('flaky', 'A skill whose first update fails, to show the roll back.', 'Run it.', notes);
buildSample(collection, upstream, {
  edit: 'conflict',
  name: 'my-artifacts',
  snapshotMessage: 'demo start',
  settings: {
    'artifactKeeper.defaultStrategy': 'merge',
    'artifactKeeper.autoUndo': false,
    'artifactKeeper.checkInterval': 0,
    'workbench.startupEditor': 'none',
    'git.enabled': false,
  },
  extraV1: { 'skills/flaky/SKILL.md': flaky('Version one.') },
  extraV2: { 'skills/flaky/SKILL.md': flaky('Version two.') },
  extraSources: ['skills/flaky'],
});
const server = await startServer({
  workspace: collection,
  port,
  env: { ARTIFACT_KEEPER_FAULT: 'rename:1:EIO:skills/flaky/' },
});
const url = workbenchUrl({ url: server.url, folder: collection, extensionDevelopmentPath: REPO_ROOT });
console.log('');
say('Artifact Keeper is running. Open this URL in a browser:');
console.log(`\n  ${url}\n`);
say(`(the plain ${server.url} also works, but loads the extension only with the URL above)`);
say('Open the Artifacts view in the activity bar. Ctrl-C stops the server.');

const stop = async () => {
  say('stopping');
  await server.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
