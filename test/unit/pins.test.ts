/**
 * Tests for src/core/sources/pins.ts and `check` on pinned specs: the version-tag order (v1.10.0 after
 * v1.9.0, prereleases, tags that are no version), and through the real CLI on real local git upstreams:
 * a tag pin with newer tags is a hint with exit 0, a pin at the newest tag is plainly up to date, a commit
 * pin names the default branch, and an unpinned `latest` behind upstream still exits 10.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { compareVersions, parseVersionTag, pinnedInfo } from '../../src/core/sources/pins.js';
import type { PinnedInfo, UpstreamRefs } from '../../src/core/sources/pins.js';
import type { ResolvedSource } from '../../src/core/sources/resolve.js';
import { runCli, tempDir } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';
import type { Upstream, UpstreamCommit } from './support/upstream.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const SHA = (n: number): string => n.toString(16).padStart(40, '0');

function order(names: string[]): string[] {
  return [...names].sort((a, b) => {
    const left = parseVersionTag(a);
    const right = parseVersionTag(b);
    assert.ok(left && right, `${a} and ${b} are versions`);
    return compareVersions(left, right);
  });
}

void describe('version tags', () => {
  void it('orders numerically, part by part, with missing parts as 0', () => {
    assert.deepEqual(order(['v1.10.0', 'v1.9.0', 'v1.2', 'v2', '1.9.1', 'v0.9.12']), [
      'v0.9.12',
      'v1.2',
      'v1.9.0',
      '1.9.1',
      'v1.10.0',
      'v2',
    ]);
    const a = parseVersionTag('v1.2');
    const b = parseVersionTag('1.2.0');
    assert.ok(a && b);
    assert.equal(compareVersions(a, b), 0);
  });

  void it('orders prereleases before their release, numeric identifiers numerically', () => {
    assert.deepEqual(order(['v2.0.0', 'v2.0.0-rc.10', 'v2.0.0-rc.2', 'v2.0.0-beta', 'v1.9.9']), [
      'v1.9.9',
      'v2.0.0-beta',
      'v2.0.0-rc.2',
      'v2.0.0-rc.10',
      'v2.0.0',
    ]);
  });

  void it('is not a version: names, branches-like tags, dates with words', () => {
    for (const name of ['stable', 'release-1.2', 'v1.x', 'v', 'latest', '1.2.', 'v1..2', 'nightly-2024'])
      assert.equal(parseVersionTag(name), undefined, name);
  });
});

void describe('pinnedInfo', () => {
  const refs = (tags: Record<string, number>, head?: number): UpstreamRefs => ({
    tags: new Map(Object.entries(tags).map(([name, n]) => [name, SHA(n)])),
    ...(head !== undefined ? { headSha: SHA(head), headBranch: 'main' } : {}),
  });
  const resolved = (ref: string, sha: number): ResolvedSource => ({
    sha: SHA(sha),
    ref,
    versionSpec: ref.replace('refs/tags/', ''),
  });

  void it('a spec that follows a branch or latest is not pinned', () => {
    assert.equal(pinnedInfo(resolved('refs/heads/main', 3), refs({ 'v1.0.0': 1 }, 3)), undefined);
    assert.equal(pinnedInfo(resolved('HEAD', 3), refs({ 'v1.0.0': 1 }, 3)), undefined);
  });

  void it('a tag pin counts the version tags after it, ignoring other tags and prereleases', () => {
    const info = pinnedInfo(
      resolved('refs/tags/v1.9.0', 1),
      refs({ 'v1.9.0': 1, 'v1.10.0': 3, 'v1.9.1': 2, stable: 4, 'v2.0.0-rc.1': 5, 'v1.0.0': 0 }, 5),
    );
    assert.deepEqual(info, {
      kind: 'tag',
      at: 'v1.9.0',
      newerTags: 2,
      newest: 'v1.10.0',
    } satisfies PinnedInfo);
  });

  void it('a prerelease pin counts newer prereleases too', () => {
    const info = pinnedInfo(
      resolved('refs/tags/v2.0.0-rc.1', 1),
      refs({ 'v2.0.0-rc.1': 1, 'v2.0.0-rc.2': 2, 'v1.0.0': 0 }),
    );
    assert.deepEqual(info, { kind: 'tag', at: 'v2.0.0-rc.1', newerTags: 1, newest: 'v2.0.0-rc.2' });
  });

  void it('a pin at a tag that is no version has nothing newer', () => {
    const info = pinnedInfo(resolved('refs/tags/stable', 1), refs({ stable: 1, 'v9.0.0': 2 }));
    assert.deepEqual(info, { kind: 'tag', at: 'stable', newerTags: 0 });
  });

  void it('a commit pin counts from the version tag on that commit and names the default branch', () => {
    const tagged = pinnedInfo(resolved(SHA(2), 2), refs({ 'v1.0.0': 2, 'v1.1.0': 3 }, 4));
    assert.deepEqual(tagged, {
      kind: 'commit',
      at: SHA(2),
      tag: 'v1.0.0',
      newerTags: 1,
      newest: 'v1.1.0',
      defaultBranch: { name: 'main', sha: SHA(4) },
    });
    const atHead = pinnedInfo(resolved(SHA(4), 4), refs({ 'v1.0.0': 2 }, 4));
    assert.deepEqual(atHead, { kind: 'commit', at: SHA(4), newerTags: 0 });
  });
});

const skill = (text: string): UpstreamCommit['files'] => ({
  'skills/pdf/SKILL.md': `---\nname: pdf\ndescription: PDF tools\n---\n# PDF\n\n${text}\n`,
});

/** An upstream whose tags, in commit order, are v1.0.0, v1.9.0, stable, v1.10.0 — plus one untagged commit. */
function upstream(): Upstream {
  return makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    { files: skill('one'), tag: 'v1.0.0' },
    { files: skill('nine'), tag: { name: 'v1.9.0', annotated: true } },
    { files: skill('stable'), tag: 'stable' },
    { files: skill('ten'), tag: 'v1.10.0' },
    { files: skill('unreleased') },
  ]);
}

function collectionWith(up: Upstream, ref: string): string {
  const dir = path.join(tempDir(), 'collection');
  assert.equal(runCli(['init', '--collection', dir]).code, 0);
  const add = runCli(['add', '--allow-exec', `${up.url}#skills/pdf@${ref}`, '--collection', dir]);
  assert.equal(add.code, 0, add.stderr);
  return dir;
}

interface CheckJson {
  results: { id: string; available: boolean; latestSha?: string; pinned?: PinnedInfo }[];
}

void describe('check on a pinned spec (CLI, real git upstreams)', () => {
  void it('a tag pin with newer tags: a hint, exit 0, and the pin in --json', () => {
    const up = upstream();
    const dir = collectionWith(up, 'v1.0.0');
    const r = runCli(['check', '--collection', dir]);
    assert.equal(r.code, 0, r.stderr);
    // v1.9.0 and v1.10.0 are newer; `stable` is no version and never counts.
    assert.equal(r.stdout, 'skill/pdf: pinned at v1.0.0; upstream has v1.10.0 (2 newer tags)\n');
    const json = runCli(['check', '--json', '--collection', dir]);
    assert.equal(json.code, 0, json.stderr);
    const [result] = (JSON.parse(json.stdout) as CheckJson).results;
    assert.equal(result?.available, false);
    assert.deepEqual(result?.pinned, { kind: 'tag', at: 'v1.0.0', newerTags: 2, newest: 'v1.10.0' });
    const saved = JSON.parse(
      fs.readFileSync(path.join(dir, '.artifact-keeper', 'check.json'), 'utf8'),
    ) as CheckJson['results'];
    assert.deepEqual(saved[0]?.pinned, result?.pinned, 'the extension reads the pin from check.json');
  });

  void it('a tag pin at the newest version tag is plainly up to date, whatever non-version tags follow', () => {
    const up = upstream();
    const dir = collectionWith(up, 'v1.9.0');
    // From v1.9.0, only v1.10.0 is newer (v1.10 > v1.9, not a string compare).
    assert.equal(
      runCli(['check', '--collection', dir]).stdout,
      'skill/pdf: pinned at v1.9.0; upstream has v1.10.0 (1 newer tag)\n',
    );
    const newest = collectionWith(up, 'v1.10.0');
    const r = runCli(['check', '--collection', newest]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'skill/pdf: up to date (pinned at v1.10.0)\n');
    const pinned = collectionWith(up, 'stable');
    assert.equal(
      runCli(['check', '--collection', pinned]).stdout,
      'skill/pdf: up to date (pinned at stable)\n',
    );
  });

  void it('a commit pin names the version tag on it and where the default branch is', () => {
    const up = upstream();
    const dir = collectionWith(up, up.shas[1]!.slice(0, 10));
    const r = runCli(['check', '--collection', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `skill/pdf: pinned at ${up.shas[1]!.slice(0, 7)} (v1.9.0); upstream has v1.10.0 (1 newer tag); ` +
        `the default branch main is at ${up.shas[4]!.slice(0, 7)}\n`,
    );
    const atHead = collectionWith(up, up.shas[4]!);
    assert.equal(
      runCli(['check', '--collection', atHead]).stdout,
      `skill/pdf: up to date (pinned at ${up.shas[4]!.slice(0, 7)})\n`,
    );
  });

  void it('an unpinned latest behind upstream is still an update: exit 10, no pin', () => {
    const up = upstream();
    const dir = collectionWith(up, 'v1.0.0');
    const manifest = path.join(dir, 'collection.toml');
    fs.writeFileSync(
      manifest,
      fs.readFileSync(manifest, 'utf8').replace('version_spec = "v1.0.0"', 'version_spec = "latest"'),
    );
    const r = runCli(['check', '--json', '--collection', dir]);
    assert.equal(r.code, 10, r.stderr);
    const [result] = (JSON.parse(r.stdout) as CheckJson).results;
    assert.equal(result?.available, true);
    assert.equal(result?.latestSha, up.shas[4]);
    assert.equal(result?.pinned, undefined);
  });
});
