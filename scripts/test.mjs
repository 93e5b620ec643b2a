// `npm test`: every suite in order — unit (node:test, plain Node), integration (mocha inside a real
// VS Code extension host), e2e (Playwright clicking the workbench), and the reliability campaign at CI
// size. Prints each suite's tally and closes with one `all: N passed, N failed` line.
// `pretest` has already type-checked, linted, bundled and compiled the tests.
// Env: SUITES=unit,integration,e2e,torture (default: all four). `torture` is the reliability campaign at
// its CI size: every IO call site × four errnos through the CLI (`faults`), then `campaign.js --ci`
// (100 kill -9 trials on the 11k-file collection and 60 s of four concurrent writers);
// `npm run torture -- --trials N --seed S` runs the kill campaign at any size.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const suites = (process.env.SUITES || 'unit,integration,e2e,torture').split(',');
const results = [];
/** The fault matrix: its two files run side by side (a core each) in the torture suite. */
const FAULT_FILES = ['faults.test.js', 'projectFaults.test.js'].map((f) =>
  path.join(ROOT, 'out/test/unit', f),
);

function run(cmd, args, { tally, env }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, counts: tally(text) }));
  });
}

function lastTally(pattern) {
  return (text) => {
    const matches = [...text.matchAll(pattern)];
    const m = matches.at(-1);
    return m ? { passed: Number(m[1]), failed: Number(m[2]) } : undefined;
  };
}

function unitFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...unitFiles(abs));
    else if (entry.name.endsWith('.test.js')) out.push(abs);
  }
  return out.sort();
}

async function suite(name, cmd, args, tally, env = {}) {
  console.log(`\n=== ${name} ===`);
  const started = Date.now();
  const { code, counts } = await run(cmd, args, { tally, env });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const entry = {
    name,
    code,
    passed: counts?.passed ?? 0,
    failed: counts?.failed ?? (code === 0 ? 0 : 1),
    seconds,
  };
  if (code !== 0 && entry.failed === 0) entry.failed = 1;
  results.push(entry);
  console.log(`=== ${name}: ${entry.passed} passed, ${entry.failed} failed (${seconds} s) ===`);
}

/** node:test files, reported as spec on stdout and tallied from a TAP copy. */
async function nodeTests(name, files, { env = {} } = {}) {
  const tap = path.join(os.tmpdir(), `ak-${name}-${process.pid}.tap`);
  await suite(
    name,
    process.execPath,
    [
      '--test',
      '--test-concurrency=2',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tap}`,
      ...files,
    ],
    () => {
      const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
      fs.rmSync(tap, { force: true });
      const pass = text.match(/^# pass (\d+)$/m);
      const fail = text.match(/^# fail (\d+)$/m);
      return pass && fail ? { passed: Number(pass[1]), failed: Number(fail[1]) } : undefined;
    },
    env,
  );
}

if (suites.includes('unit')) {
  // With the torture suite in the same run, the fault matrix runs there whole: the unit suite leaves out
  // its sampled copy.
  const files = unitFiles(path.join(ROOT, 'out/test/unit'));
  await nodeTests('unit', suites.includes('torture') ? files.filter((f) => !FAULT_FILES.includes(f)) : files);
}

if (suites.includes('integration') || suites.includes('e2e')) {
  const setup = spawnSync('bash', [path.join(ROOT, 'scripts/setup-vscode.sh')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (setup.status !== 0) {
    results.push({ name: 'setup-vscode', code: setup.status ?? 1, passed: 0, failed: 1, seconds: '0' });
  }
}
if (suites.includes('integration')) {
  await suite(
    'integration',
    process.execPath,
    ['scripts/run-integration-tests.mjs'],
    lastTally(/^integration: (\d+) passed, (\d+) failed/gm),
  );
  // Workspace trust on, the workspace untrusted: collections are read-only (untrusted.test.ts).
  await suite(
    'integration-untrusted',
    process.execPath,
    ['scripts/run-integration-tests.mjs', '--trust'],
    lastTally(/^integration: (\d+) passed, (\d+) failed/gm),
    { INTEGRATION_GREP: 'untrusted workspace' },
  );
}
if (suites.includes('e2e')) {
  await suite(
    'e2e',
    process.execPath,
    ['scripts/run-e2e.mjs'],
    lastTally(/^e2e: (\d+) passed, (\d+) failed/gm),
  );
}
if (suites.includes('torture')) {
  // Every IO call site of `update`, `restore`, `deploy --strategy merge` and `pull` through the CLI ×
  // ENOSPC, EACCES, EIO and EXDEV, and each site's last call (the unit suite alone samples the same
  // sites once each; AK_FAULTS_FULL=every runs every call × every errno).
  await nodeTests('faults', FAULT_FILES, {
    env: { AK_FAULTS_FULL: '1' },
  });

  await suite(
    'torture',
    process.execPath,
    ['out/test/torture/campaign.js', '--ci'],
    lastTally(/^torture: (\d+) passed, (\d+) failed/gm),
  );
}

console.log('\n=== summary ===');
for (const r of results)
  console.log(
    `${r.name.padEnd(12)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${r.seconds} s`,
  );
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`all: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && results.every((r) => r.code === 0) ? 0 : 1);
