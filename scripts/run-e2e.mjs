// End-to-end UI tests: drives the real VS Code workbench (private VS Code server + headless Chromium via
// playwright-core) with the extension under development loaded from the repo root.
// Needs: bash scripts/setup-vscode.sh and npm run build (dist/extension.js).
//
// Scenarios live in test/e2e/*.e2e.mjs: every exported async function is one scenario, called as
//   fn({ page, workspace, server, screenshot, runCommand, log })
// and passes unless it throws. A module may export `setupWorkspace(dir, scenarioName)` to fill the
// scenario's fresh workspace folder before the server starts, or a scenario may carry its own
// `fn.setupWorkspace`. Each scenario gets its own server, workspace and browser profile.
// A scenario marked `fn.modalDialogs = true` gets a server without the test driver, which refuses modal
// dialogs. A scenario marked `fn.fromVsix = true` runs against the extension *installed* from a .vsix into the
// server's fresh extensions folder (no extensionDevelopmentPath): env E2E_VSIX names the file, else the
// current dist/ is packaged once with vsce into a temp file (no rebuild, so it is the build under test).
//
// Usage: node scripts/run-e2e.mjs [--workspace DIR] [--grep TEXT] [test/e2e/x.e2e.mjs ...]
//   --workspace DIR / env E2E_WORKSPACE: open this folder for every scenario (no setupWorkspace, not copied)
//   --grep TEXT / env E2E_GREP: only scenarios whose "file › name" contains TEXT
//   env E2E_TIMEOUT_MS: per scenario (default 120000); VERBOSE=1, VSCODE_SERVER_LOG=1, HEADED=1
// Screenshots go to test/e2e/screenshots/ (<scenario>.error.png on failure). Closes with
// `e2e: N passed, N failed` and exits 1 if any failed or none ran.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, startServer, openWorkbench } from './vscode-server.mjs';

const E2E_DIR = path.join(REPO_ROOT, 'test/e2e');
const SHOTS = path.join(E2E_DIR, 'screenshots');
const argv = process.argv.slice(2);
const flag = (name) => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const fixedWorkspace = flag('--workspace') || process.env.E2E_WORKSPACE;
const grep = flag('--grep') || process.env.E2E_GREP;
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 120_000);
const files = (
  argv.length
    ? argv.map((f) => path.resolve(f))
    : fs
        .readdirSync(E2E_DIR)
        .filter((f) => f.endsWith('.e2e.mjs'))
        .sort()
        .map((f) => path.join(E2E_DIR, f))
).filter((f) => fs.existsSync(f) || (console.error(`no such file: ${f}`), false));

if (!fs.existsSync(path.join(REPO_ROOT, 'dist/extension.js'))) {
  console.error('dist/extension.js is missing: run npm run build');
  console.log('e2e: 0 passed, 1 failed');
  process.exit(1);
}

const slug = (s) => s.replace(/[^A-Za-z0-9._-]+/g, '_');
const withTimeout = (promise, ms, what) => {
  let timer;
  return Promise.race([
    promise,
    new Promise(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
};

/** Runs a command through the command palette by its title as shown there (e.g. "View: Toggle Panel"). */
async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ timeout: 10_000 });
  await row.click();
}

/** The notifications and the status bar's left items as shown when a scenario failed, in one line. */
async function whatIsShown(page) {
  const texts = async (selector) =>
    (
      await page
        .locator(selector)
        .allInnerTexts()
        .catch(() => [])
    )
      .map((t) => t.replace(/\s+/g, ' ').trim())
      .filter(Boolean);
  const toasts = await texts('.notification-list-item-message');
  const status = await texts('.statusbar-item.left');
  return `notifications: ${toasts.length ? toasts.join(' | ') : 'none'}; status bar: ${status.join(' | ')}`;
}

const scenarios = [];
for (const file of files) {
  const mod = await import(pathToFileURL(file).href);
  for (const [name, fn] of Object.entries(mod)) {
    if (typeof fn !== 'function' || name === 'setupWorkspace') continue;
    const full = `${path.basename(file, '.e2e.mjs')} › ${name}`;
    if (grep && !full.includes(grep)) continue;
    scenarios.push({
      full,
      name,
      fn,
      setup: fn.setupWorkspace || mod.setupWorkspace,
      fromVsix: fn.fromVsix === true,
      modalDialogs: fn.modalDialogs === true,
    });
  }
}

let packagedVsix;
/** The .vsix a `fromVsix` scenario installs: E2E_VSIX, or dist/ packaged once (vsce, no prepublish build). */
function vsixUnderTest() {
  if (process.env.E2E_VSIX) return path.resolve(process.env.E2E_VSIX);
  if (packagedVsix) return packagedVsix;
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'ak-e2e-vsix-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'artifact-keeper.vsix');
  // prettier-ignore
  const run = spawnSync(process.execPath, [
    path.join(REPO_ROOT, 'node_modules/@vscode/vsce/vsce'), 'package',
    '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out,
  ], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`vsce package failed (${run.status}):\n${run.stdout}${run.stderr}`);
  packagedVsix = out;
  return out;
}

fs.mkdirSync(SHOTS, { recursive: true });
let passed = 0;
let failed = 0;
/**
 * The scenarios that failed with their error's first line, listed again at the end (TAP `not ok` lines,
 * which CI collects): a long run's log may be cut, and its end is what survives.
 */
const failures = [];
const t0 = Date.now();
for (const sc of scenarios) {
  const start = Date.now();
  const log = (...a) => console.log(`    ${sc.name}:`, ...a);
  let workspace = fixedWorkspace && path.resolve(fixedWorkspace);
  const ownWorkspace = !workspace;
  let server;
  let wb;
  let error;
  try {
    if (ownWorkspace) {
      workspace = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'ak-e2e-workspace-'));
      if (sc.setup) await sc.setup(workspace, sc.name);
    }
    server = await startServer({
      workspace,
      extensions: sc.fromVsix ? [vsixUnderTest()] : [],
      smokeTestDriver: !sc.modalDialogs,
    });
    wb = await openWorkbench({
      url: server.url,
      folder: workspace,
      extensionDevelopmentPath: sc.fromVsix ? undefined : REPO_ROOT,
    });
    const { page } = wb;
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    const screenshot = async (name) => {
      const file = path.join(SHOTS, `${slug(name)}.png`);
      await page.screenshot({ path: file });
      log('screenshot', path.relative(REPO_ROOT, file));
      return file;
    };
    await withTimeout(
      Promise.resolve(
        sc.fn({ page, workspace, server, screenshot, runCommand: (t) => runCommand(page, t), log }),
      ),
      timeoutMs,
      sc.full,
    );
  } catch (e) {
    error = e;
  }
  const ms = Date.now() - start;
  if (error) {
    failed++;
    const seen = wb ? await whatIsShown(wb.page) : '';
    failures.push(`${sc.full}: ${String(error?.message ?? error).split('\n')[0]}${seen ? ` (${seen})` : ''}`);
    console.log(`  ✘ ${sc.full} (${ms} ms)`);
    console.log(String(error?.stack || error).replace(/^/gm, '      '));
    if (wb) {
      const shot = path.join(SHOTS, `${slug(sc.full)}.error.png`);
      await wb.page.screenshot({ path: shot }).catch(() => {});
      console.log(`      screenshot: ${path.relative(REPO_ROOT, shot)}`);
      if (process.env.VERBOSE !== '1')
        console.log(`--- browser errors (last) ---\n${wb.browserErrors()}\n---`);
    }
    if (server) console.log(`--- server log (tail) ---\n${server.logTail(30)}\n---`);
  } else {
    passed++;
    console.log(`  ✔ ${sc.full} (${ms} ms)`);
  }
  await wb?.close();
  await server?.stop();
  if (ownWorkspace && workspace) fs.rmSync(workspace, { recursive: true, force: true });
}

if (scenarios.length === 0) {
  console.error(`no e2e scenario found${grep ? ` matching "${grep}"` : ''} in ${files.length} file(s)`);
  failed = Math.max(failed, 1);
}
failures.forEach((name, i) => console.log(`not ok ${i + 1} - ${name}`));
console.log(`(e2e: ${scenarios.length} scenario(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
