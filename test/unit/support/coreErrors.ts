import assert from 'node:assert/strict';
import { CoreError } from '../../../src/core/base/errors.js';

/** The CoreError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function coreErrorOf(promise: Promise<unknown>): Promise<CoreError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CoreError, String(err));
    return err;
  }
  assert.fail('expected a CoreError');
}
