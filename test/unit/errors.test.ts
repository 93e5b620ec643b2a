import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoreError, describeFailure, printable } from '../../src/core/base/errors.js';
import type { Failure } from '../../src/core/base/errors.js';
import { parseManifest } from '../../src/core/model/manifest.js';

/** C0, DEL and C1 controls, and the Unicode line separators: none may reach a terminal or break a line. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

describe('printable messages', () => {
  it('escapes control characters and line breaks, keeping other Unicode', () => {
    assert.equal(printable('a\nb\r\tc'), 'a\\nb\\r\\tc');
    assert.equal(printable('\u0000\u001b]0;x\u0007\u007f\u0085\u009b'), '\\x00\\x1b]0;x\\x07\\x7f\\x85\\x9b');
    assert.equal(printable('line\u2028break\u2029'), 'line\\u2028break\\u2029');
    assert.equal(printable('café 😀 «ok» \\ C:\\dir'), 'café 😀 «ok» \\ C:\\dir');
    // Escaping an escaped text changes nothing: the CLI may pass a message through twice.
    const once = printable('x\u001by\n');
    assert.equal(printable(once), once);
  });

  it('applies to every CoreError message, whichever field holds the hostile text', () => {
    const hostile = 'evil\u001b[2J\nname\u0000';
    const failures: Failure[] = [
      { code: 'artifact-not-found', artifact: hostile },
      { code: 'toml-invalid', file: hostile, line: 1, column: 1, reason: hostile },
      { code: 'io-failed', op: 'read', path: hostile, errno: 'EIO', reason: hostile },
      { code: 'conflicts', conflicts: [{ artifact: hostile, path: hostile }] },
      { code: 'locked', holder: { pid: 1, host: hostile, tool: hostile, started: hostile }, lockFile: '' },
    ];
    for (const failure of failures) {
      const message = new CoreError(failure).message;
      assert.equal(message, describeFailure(failure));
      assert.doesNotMatch(message, UNPRINTABLE, JSON.stringify(message));
      assert.match(message, /evil\\x1b\[2J\\nname\\x00/);
    }
  });

  it('a manifest naming an artifact with a NUL or an escape sequence gives one printable line', () => {
    for (const [name, shown] of [
      ['up\\u0000x', /up\\x00x.*NUL/],
      ['\\u001b]0;pwned\\u0007x', /\\x1b\]0;pwned\\x07x.*control character/],
      ['a\\nb', /a\\nb/],
    ] as const) {
      assert.throws(
        () => parseManifest(`[[artifacts]]\nname = "${name}"\ntype = "skill"\npath = "skills/x"\n`),
        (err: unknown) =>
          err instanceof CoreError &&
          !UNPRINTABLE.test(err.message) &&
          shown.test(err.message) &&
          err.message.startsWith('collection.toml:1: '),
      );
    }
  });
});
