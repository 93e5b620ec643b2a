/**
 * IO faults through the CLI in the moves that change two stores (issue 13): `deploy --strategy merge` over
 * project edits and `pull` with a merge, faults in the collection or the project, judged on one listing
 * of both (support/faultMatrix.ts). A file of its own, with a fixture of its own, so CI runs it beside
 * faults.test.ts on the second core.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildFixture, OUT_CLI } from '../torture/fixture.js';
import type { Fixture } from '../torture/fixture.js';
import { tempDir } from './support/collections.js';
import { runMatrix } from './support/faultMatrix.js';

void describe('IO faults through ARTIFACT_KEEPER_FAULT in a project move (both stores)', () => {
  let fx: Fixture;
  const covered = new Set<string>();
  before(async () => {
    fx = await buildFixture(tempDir('ak-project-faults-'), 'tiny', OUT_CLI);
  });

  for (const operation of ['deploy-merge', 'pull'] as const) {
    void it(`${operation}: a fault at any IO call site in either store gives exit 4 and both before, or exit 0 and both after`, async (t) => {
      const { diagnostic, kinds, problems } = await runMatrix(fx, operation, covered);
      t.diagnostic(diagnostic);
      assert.ok(kinds.includes('rename') && kinds.includes('fsync') && kinds.includes('git'));
      assert.deepEqual(problems, []);
    });
  }
});
