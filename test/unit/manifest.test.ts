import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadCollection } from '../../src/core/model/collection.js';
import { CoreError } from '../../src/core/base/errors.js';
import {
  addArtifact,
  findEntry,
  parseManifest,
  serializeManifest,
  setArtifactFields,
} from '../../src/core/model/manifest.js';
import { serializeLock } from '../../src/core/model/lock.js';
import { normalPosix } from '../../src/core/model/artifact.js';
import fc from 'fast-check';
import { SHARED_FIXTURES } from './support/collections.js';

const FIXTURE = path.join(SHARED_FIXTURES, 'skillmeat-written');

function manifestError(text: string): CoreError {
  try {
    parseManifest(text, 'collection.toml');
  } catch (err) {
    assert.ok(err instanceof CoreError, String(err));
    return err;
  }
  assert.fail('expected the manifest to be rejected');
}

// In tomli_w's own layout (root literals first, short arrays of tables inline), as SkillMeat writes it.
const RICH = `future_top_level = "kept"
tag_definitions = [
    { name = "docs", slug = "docs", color = "#00ff00" },
]

[collection]
name = "team"
version = "1.0.0"
created = "2026-01-02T10:00:00.000001"
updated = "2026-01-05T08:30:12.123456"
owner = "someone"

[[artifacts]]
name = "pdf"
type = "skill"
path = "skills/pdf"
origin = "github"
added = "2026-01-02T10:00:00.000001"
upstream = "https://github.com/acme/kit/tree/3f2a9c0d1e2b3a4c5d6e7f8091a2b3c4d5e6f708/skills/pdf"
version_spec = "latest"
resolved_sha = "3f2a9c0d1e2b3a4c5d6e7f8091a2b3c4d5e6f708"
tags = [
    "docs",
]
uuid = "0b8c"
some_future_key = 42

[artifacts.metadata]
title = "PDF"
dependencies = [
    "other",
]

[artifacts.metadata.extra]
future_field = "keep me"

[[mcp_servers]]
name = "files"
repo = "acme/mcp-files"
version = "latest"
description = "A file server with a long description so that it does not fit on one line at all"
env_vars = [
    "ROOT",
]

[[groups]]
name = "Reading"
description = "Skills for reading documents of every kind, and a description long enough"
color = "blue"
icon = "book"
position = 0
members = [
    "pdf",
]
`;

describe('manifest', () => {
  it('reads the collection SkillMeat wrote and writes it back byte-identical', () => {
    const bytes = fs.readFileSync(path.join(FIXTURE, 'collection.toml'));
    const manifest = parseManifest(bytes);
    assert.equal(manifest.name, 'default');
    assert.deepEqual(
      manifest.artifacts.map((a) => `${a.type}/${a.name} ${a.path} ${a.origin}`),
      [
        'skill/pdf-tools skills/pdf-tools github',
        'skill/café-notes skills/café-notes local',
        'command/review commands/review.md local',
        'agent/planner agents/planner.md github',
      ],
    );
    assert.equal(serializeManifest(manifest), bytes.toString('utf8'));
    const lockBytes = fs.readFileSync(path.join(FIXTURE, 'collection.lock'), 'utf8');
    const collection = loadCollection(FIXTURE);
    assert.equal(collection.lock.entries.size, 4);
    assert.equal(serializeLock(collection.lock), lockBytes);
  });

  it('keeps every key it does not understand across a rewrite with an edit', () => {
    const manifest = parseManifest(RICH);
    assert.equal(serializeManifest(manifest), RICH, 'no-op round trip');
    const entry = findEntry(manifest, { name: 'pdf', type: 'skill' });
    assert.ok(entry);
    setArtifactFields(entry, {
      resolved_sha: 'a'.repeat(40),
      resolved_version: 'v2.0.0',
      last_updated: '2026-02-01T00:00:00.000000',
    });
    const out = serializeManifest(manifest);
    for (const kept of [
      'future_top_level = "kept"',
      'owner = "someone"',
      'uuid = "0b8c"',
      'some_future_key = 42',
      'future_field = "keep me"',
      'env_vars = [',
      'tag_definitions = [',
      '[[groups]]',
      'dependencies = [',
    ]) {
      assert.ok(out.includes(kept), `${kept} survives`);
    }
    // New keys go to SkillMeat's place for them: after resolved_sha, before tags.
    assert.match(
      out,
      /resolved_sha = "a{40}"\nresolved_version = "v2\.0\.0"\nlast_updated = "2026-02-01T00:00:00\.000000"\ntags = \[/,
    );
    assert.deepEqual(parseManifest(out).artifacts[0]?.resolvedVersion, 'v2.0.0');
  });

  it('keeps integral floats of free keys as floats across an edit that reorders the artifact', () => {
    const text = RICH.replace('some_future_key = 42\n', 'some_future_key = 42\nscore = 1.0\n').replace(
      'future_field = "keep me"\n',
      'future_field = "keep me"\nrating = 4.0\n',
    );
    const manifest = parseManifest(text);
    assert.equal(serializeManifest(manifest), text, 'no-op round trip');
    const entry = findEntry(manifest, { name: 'pdf', type: 'skill' });
    assert.ok(entry);
    // A key the artifact did not have: its table is rebuilt in SkillMeat's order.
    setArtifactFields(entry, { resolved_version: 'v2.0.0' });
    const out = serializeManifest(manifest);
    assert.match(out, /resolved_version = "v2\.0\.0"\n/);
    assert.match(out, /\nsome_future_key = 42\nscore = 1\.0\n/);
    assert.match(out, /\nrating = 4\.0\n/);
  });

  it('adds an artifact in SkillMeat key order', () => {
    const manifest = parseManifest(RICH);
    addArtifact(
      manifest,
      { name: 'review', type: 'command' },
      { path: 'commands/review.md', origin: 'local', added: '2026-03-01T00:00:00.000000' },
    );
    const out = serializeManifest(manifest);
    assert.ok(
      out.includes(
        '[[artifacts]]\nname = "review"\ntype = "command"\npath = "commands/review.md"\norigin = "local"\nadded = "2026-03-01T00:00:00.000000"\n',
      ),
    );
    assert.equal(parseManifest(out).artifacts.length, 2);
  });

  it('rejects illegal names and paths with the line of the artifact', () => {
    const entry = (name: string, p: string): string =>
      `[collection]\nname = "x"\n\n[[artifacts]]\nname = "ok"\ntype = "skill"\npath = "skills/ok"\n\n[[artifacts]]\nname = "${name}"\ntype = "skill"\npath = "${p}"\n`;
    for (const [name, p, reason] of [
      ['../evil', 'skills/evil', /name/],
      ['a/b', 'skills/a', /separator/],
      ['.hidden', 'skills/h', /starts with/],
      ['bell\\u0007', 'skills/b', /control character/],
      ['csi\\u009b2J', 'skills/c', /control character/],
      ['fine', '../outside', /leaves the collection/],
      ['fine', '/etc/passwd', /absolute/],
      ['fine', 'skills/../../x', /leaves the collection/],
      ['fine', '.artifact-keeper/x', /reserved/],
    ] as const) {
      const err = manifestError(entry(name, p));
      assert.equal(err.failure.code, 'manifest-invalid');
      assert.match(err.message, /^collection\.toml:9: artifact skill\//, err.message);
      assert.match(err.message, reason);
    }
  });

  it('rejects paths a file system cannot hold: a name over 255 bytes, a path over PATH_MAX', () => {
    const entry = (p: string): string =>
      `[collection]\nname = "x"\n\n[[artifacts]]\nname = "fine"\ntype = "skill"\npath = "${p}"\n`;
    const segment = (n: number, char = 'x'): string => char.repeat(n);
    // 255 bytes is the limit, counted in UTF-8 bytes (é is two).
    assert.equal(parseManifest(entry(`skills/${segment(255)}`)).artifacts.length, 1);
    for (const [p, reason] of [
      [`skills/${segment(256)}`, /longer than 255 bytes/],
      [`skills/${segment(128, 'é')}`, /longer than 255 bytes/],
      [
        `skills/${Array(25).fill(segment(200)).join('/')}`,
        /too long for the file system \(5031 bytes; at most \d+\)/,
      ],
      ['skills/a\tb', /control character/],
      ['skills/a\\u009b2Jb', /control character/],
    ] as const) {
      const err = manifestError(entry(p));
      assert.equal(err.failure.code, 'manifest-invalid');
      assert.match(err.message, /^collection\.toml:4: artifact skill\/fine: path "/, err.message);
      assert.match(err.message, reason);
      assert.ok(err.message.length < 400, 'a long path is shortened in the message');
    }
  });

  it('rejects a path that is too long under the collection folder it is loaded from', () => {
    const p = `skills/${Array(15).fill('d'.repeat(250)).join('/')}`; // 3,771 bytes: fine on its own
    const text = `[[artifacts]]\nname = "fine"\ntype = "skill"\npath = "${p}"\n`;
    assert.equal(parseManifest(text).artifacts.length, 1);
    assert.equal(parseManifest(text, 'collection.toml', undefined, '/short').artifacts.length, 1);
    const deepRoot = `/${Array(2).fill('r'.repeat(250)).join('/')}`;
    assert.throws(
      () => parseManifest(text, 'collection.toml', undefined, deepRoot),
      (err: unknown) =>
        err instanceof CoreError &&
        err.failure.code === 'manifest-invalid' &&
        /^collection\.toml:1: artifact skill\/fine: path ".*…" is too long for the file system here \(4274 bytes/.test(
          err.message,
        ),
    );
  });

  it('rejects duplicates, unknown types and missing keys', () => {
    const dup =
      '[[artifacts]]\nname = "a"\ntype = "skill"\npath = "skills/a"\n\n[[artifacts]]\nname = "a"\ntype = "skill"\npath = "skills/b"\n';
    assert.match(manifestError(dup).message, /:6: .*duplicate artifact skill\/a/);
    assert.match(
      manifestError('[[artifacts]]\nname = "a"\ntype = "spell"\npath = "x"\n').message,
      /unknown artifact type "spell"/,
    );
    assert.match(manifestError('[[artifacts]]\nname = "a"\npath = "x"\n').message, /:1: .*has no "type"/);
    assert.match(manifestError('artifacts = 3\n').message, /array of tables/);
  });
});

void describe('normalPosix', () => {
  void it('gives what path.posix.normalize gives, for any path of dots, slashes and names', () => {
    const part = fc.constantFrom('a', 'b', '.', '..', '...', '.a', 'a.', '', '/', '//');
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
        const rel = parts.join('/');
        assert.equal(normalPosix(rel), path.posix.normalize(rel), JSON.stringify(rel));
        const glued = parts.join('');
        assert.equal(normalPosix(glued), path.posix.normalize(glued), JSON.stringify(glued));
      }),
      { numRuns: 2_000 },
    );
  });
});
