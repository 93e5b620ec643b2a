// A private VS Code server (from the code-server npm package that scripts/setup-vscode.sh installs in
// .vscode-server/) and a headless Chromium workbench on it, driven by playwright-core.
// Follows shared/recipes/vscode-server-tests.md:
//   - lib/vscode/out/server-main.js is started directly (not code-server's wrapper) so that
//     --enable-smoke-test-driver is accepted; without it the workbench ignores the test paths in `payload`;
//   - the server leads its own process group (spawn detached = setsid) and the whole group is killed,
//     otherwise the extension host and file watcher outlive it;
//   - HOME, TMPDIR, server data, user data and extensions all live in a fresh temp run folder whose
//     folders exist before the server starts (a missing parent makes it load no extension, silently).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const VSCODE_SERVER_DIR = process.env.VSCODE_SERVER_DIR || path.join(REPO_ROOT, '.vscode-server');
export const SERVER_MAIN = path.join(
  VSCODE_SERVER_DIR,
  'node_modules/code-server/lib/vscode/out/server-main.js',
);
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
// code-server's remote authority in vscode-remote:// URIs of the payload.
const REMOTE_AUTHORITY = process.env.REMOTE_AUTHORITY || 'remote';

const baseTmp = () => process.env.TMPDIR || os.tmpdir();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Processes to kill and folders to remove if this Node process ends without calling stop()/close(). */
const pendingGroups = new Set();
const pendingDirs = new Set();
let exitHooked = false;
function hookExit() {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const pid of pendingGroups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const dir of pendingDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => process.exit(128 + (os.constants.signals[sig] || 0)));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tail(file, lines = 60) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

/**
 * Starts a private VS Code server.
 * @param {object} [opts]
 * @param {string} [opts.workspace] folder the workbench opens by default (kept as `workspace` in the result)
 * @param {Record<string,string>} [opts.env] extra environment for the server and so for the extension host
 * @param {boolean} [opts.trust] true: leave workspace trust on (to test the extension's untrusted mode)
 * @param {number} [opts.port] default: a free port
 * @param {number} [opts.startTimeoutMs] default 60 s
 * @param {boolean} [opts.echoLog] also copy the server's output to this process's stderr (default: env VSCODE_SERVER_LOG=1)
 * @param {string[]} [opts.extensions] .vsix files installed into the run's fresh extensions folder before the
 *   server starts (the server's own `--install-extension`, as a user's `code --install-extension`)
 * @returns {Promise<{url: string, port: number, pid: number, workspace?: string, runDir: string,
 *   logFile: string, logTail: (n?: number) => string, stop: () => Promise<void>}>}
 */
export async function startServer({
  workspace,
  env = {},
  trust = false,
  port,
  startTimeoutMs = 60_000,
  echoLog = process.env.VSCODE_SERVER_LOG === '1',
  extensions = [],
  smokeTestDriver = true,
} = {}) {
  if (!fs.existsSync(SERVER_MAIN)) {
    throw new Error(
      `VS Code server not installed (${SERVER_MAIN} missing): run bash scripts/setup-vscode.sh`,
    );
  }
  hookExit();
  const runDir = fs.mkdtempSync(path.join(baseTmp(), 'ak-vscode-run-'));
  pendingDirs.add(runDir);
  const dirs = Object.fromEntries(
    ['home', 'tmp', 'server', 'user', 'ext'].map((d) => [d, path.join(runDir, d)]),
  );
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const serverEnv = { ...process.env, HOME: dirs.home, TMPDIR: dirs.tmp, ...env };
  for (const vsix of extensions) {
    // prettier-ignore
    const install = spawnSync(process.env.NODE_BIN || process.execPath, [
      SERVER_MAIN,
      '--install-extension', path.resolve(vsix),
      '--extensions-dir', dirs.ext,
      '--server-data-dir', dirs.server,
      '--user-data-dir', dirs.user,
      '--accept-server-license-terms',
    ], { env: serverEnv, encoding: 'utf8', timeout: 120_000 });
    if (install.status !== 0 || !/successfully installed/.test(install.stdout)) {
      fs.rmSync(runDir, { recursive: true, force: true });
      pendingDirs.delete(runDir);
      throw new Error(
        `installing ${vsix} failed (${install.status ?? install.signal}):\n${install.stdout}${install.stderr}`,
      );
    }
  }
  port ??= await freePort();
  const logFile = path.join(runDir, 'server.log');
  const logFd = fs.openSync(logFile, 'a');

  // prettier-ignore
  const args = [
    SERVER_MAIN,
    '--host', '127.0.0.1',
    '--port', String(port),
    '--without-connection-token',
    '--accept-server-license-terms',
    // The test driver runs integration tests (extensionTestsPath) and refuses modal dialogs: a scenario
    // that drives a modal starts without it.
    ...(smokeTestDriver ? ['--enable-smoke-test-driver'] : []),
    '--disable-telemetry',
    '--server-data-dir', dirs.server,
    '--user-data-dir', dirs.user,
    '--extensions-dir', dirs.ext,
  ];
  if (!trust) args.push('--disable-workspace-trust');

  const child = spawn(process.env.NODE_BIN || process.execPath, args, {
    detached: true, // setsid: the server leads a process group that stop() kills whole
    stdio: ['ignore', echoLog ? 'pipe' : logFd, echoLog ? 'pipe' : logFd],
    env: serverEnv,
  });
  if (echoLog) {
    for (const s of [child.stdout, child.stderr]) {
      s.on('data', (b) => {
        fs.writeSync(logFd, b);
        process.stderr.write(b);
      });
    }
  }
  const pid = child.pid;
  pendingGroups.add(pid);
  let exited = false;
  const exitPromise = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  void exitPromise.then(() => (exited = true));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const kill = (sig) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* group already gone */
      }
    };
    kill('SIGTERM');
    await Promise.race([exitPromise, sleep(5000)]);
    await sleep(300);
    kill('SIGKILL'); // helpers (extension host, watcher) that ignored SIGTERM
    pendingGroups.delete(pid);
    try {
      fs.closeSync(logFd);
    } catch {
      /* closed */
    }
    if (process.env.KEEP_VSCODE_RUN === '1') {
      console.error(`[vscode-server] kept run folder ${runDir}`);
    } else {
      fs.rmSync(runDir, { recursive: true, force: true });
    }
    pendingDirs.delete(runDir);
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exited) {
      const log = tail(logFile);
      await stop();
      throw new Error(`VS Code server exited during startup:\n${log}`);
    }
    try {
      const res = await fetch(url + '/', { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      const log = tail(logFile);
      await stop();
      throw new Error(`VS Code server did not answer on ${url} within ${startTimeoutMs} ms:\n${log}`);
    }
    await sleep(200);
  }
  return { url, port, pid, workspace, runDir, logFile, logTail: (n) => tail(logFile, n), stop };
}

/** The workbench URL that opens `folder` with the extension under development (and its tests). */
export function workbenchUrl({ url, folder, extensionDevelopmentPath, extensionTestsPath }) {
  const toRemote = (p) => `vscode-remote://${REMOTE_AUTHORITY}${path.resolve(p)}`;
  const payload = [];
  if (extensionDevelopmentPath)
    payload.push(['extensionDevelopmentPath', toRemote(extensionDevelopmentPath)]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', toRemote(extensionTestsPath)]);
  payload.push(['skipWelcome', 'true'], ['skipReleaseNotes', 'true']);
  const q = [];
  if (folder) q.push(`folder=${encodeURIComponent(path.resolve(folder))}`);
  q.push(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  return `${url}/?${q.join('&')}`;
}

/**
 * Opens the workbench in headless Chromium (a fresh profile) and navigates to it.
 * With `extensionTestsPath`, the page exposes `codeAutomationLog`/`codeAutomationExit` before loading,
 * so the tests' console output goes to `onLog(type, args)` and `exitCode` resolves with their exit code.
 * @returns {Promise<{context: import('playwright-core').BrowserContext, page: import('playwright-core').Page,
 *   url: string, exitCode: Promise<number>, browserErrors: () => string, close: () => Promise<void>}>}
 */
export async function openWorkbench({
  url,
  folder,
  extensionDevelopmentPath,
  extensionTestsPath,
  onLog = (type, args) => console.log(`[ext-host ${type}]`, ...(args || [])),
  viewport = { width: 1280, height: 800 },
  headless = process.env.HEADED !== '1',
  verbose = process.env.VERBOSE === '1',
} = {}) {
  const { chromium } = await import('playwright-core');
  hookExit();
  const profile = fs.mkdtempSync(path.join(baseTmp(), 'ak-chromium-'));
  pendingDirs.add(profile);
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless,
      args: CHROMIUM_ARGS,
      viewport,
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    pendingDirs.delete(profile);
    throw e;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    pendingDirs.delete(profile);
  };
  try {
    const page = context.pages()[0] || (await context.newPage());
    let resolveExit;
    const exitCode = new Promise((r) => (resolveExit = r));
    if (extensionTestsPath) {
      await page.exposeFunction('codeAutomationLog', (type, args) => onLog(type, args));
      await page.exposeFunction('codeAutomationExit', (code) => resolveExit(code));
    }
    // The workbench logs many harmless errors here (404s for manifest.json and the service worker,
    // failed open-vsx.org look-ups): keep the last ones for failure reports, print them live with VERBOSE=1.
    const browserErrors = [];
    const keep = (line) => {
      browserErrors.push(line);
      if (browserErrors.length > 100) browserErrors.shift();
    };
    page.on('console', (m) => {
      const line = `[browser ${m.type()}] ${m.text()}`;
      if (m.type() === 'error') keep(line);
      if (verbose) console.error(line);
    });
    page.on('pageerror', (e) => {
      keep(`[pageerror] ${e.message}`);
      if (verbose) console.error(`[pageerror] ${e.message}`);
    });
    const full = workbenchUrl({ url, folder, extensionDevelopmentPath, extensionTestsPath });
    if (verbose) console.error('opening', full);
    await page.goto(full);
    return { context, page, url: full, exitCode, browserErrors: () => browserErrors.join('\n'), close };
  } catch (e) {
    await close();
    throw e;
  }
}
