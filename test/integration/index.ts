// Entry point of the integration tests, run inside a real VS Code extension host: the workbench loads
// this file (payload `extensionTestsPath`, see scripts/run-integration-tests.mjs) and calls run(). It is
// the same contract as @vscode/test-electron's, so the suite also runs on desktop VS Code.
// Runs mocha (BDD) over every out/test/integration/**/*.test.js, prints each test's result and closes with
// the line `integration: N passed, N failed`; rejects if any test failed (or none ran).
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

function findTests(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => path.join(dir, f))
    .sort();
}

export async function run(): Promise<void> {
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    color: false,
    timeout: 60_000,
    grep: process.env.INTEGRATION_GREP || undefined,
  });
  const files = findTests(__dirname);
  for (const f of files) mocha.addFile(f);

  const { passed, failed } = await new Promise<{ passed: number; failed: number }>((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        resolve({ passed: runner.stats?.passes ?? 0, failed: failures });
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
  console.log(`integration: ${passed} passed, ${failed} failed`);
  if (failed > 0) throw new Error(`${failed} integration test(s) failed`);
  if (passed === 0) throw new Error(`no integration test ran (${files.length} test files found)`);
}
