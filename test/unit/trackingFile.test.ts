import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CoreError } from '../../src/core/base/errors.js';
import { projectProfileRoot } from '../../src/core/projects/profiles.js';
import {
  artifactPathProblem,
  deployedLocation,
  emptyTrackingFile,
  localNaiveTime,
  parseTrackingFile,
  readTrackingFile,
  removeRecord,
  serializeTrackingFile,
  setRecord,
} from '../../src/core/projects/trackingFile.js';
import { REPO_ROOT, tempDir, writeTree } from './support/collections.js';

const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/skillmeat-deployed/.skillmeat-deployed.toml');
const HASH = '4b8f6fc6c43abfcc0fc2ee7319fb5c9c2627a8f86ff1021d40564f77b7c6057b';

function rejection(text: string): CoreError {
  try {
    parseTrackingFile(text, '/p/.claude/.skillmeat-deployed.toml');
  } catch (err) {
    assert.ok(err instanceof CoreError);
    return err;
  }
  assert.fail('expected the tracking file to be rejected');
}

const record = (extra: string): string =>
  `[[deployed]]\nartifact_name = "x"\nartifact_type = "skill"\nfrom_collection = "default"\ndeployed_at = "2026-01-05T09:30:12"\nartifact_path = "skills/x"\ncontent_hash = "${HASH}"\nlocal_modifications = false\n${extra}`;

describe('tracking file', () => {
  it('reads a file SkillMeat wrote, every key', () => {
    const tracking = parseTrackingFile(fs.readFileSync(FIXTURE), FIXTURE);
    assert.equal(tracking.records.length, 2);
    const [skill, command] = tracking.records;
    assert.equal(skill?.name, 'pdf-tools');
    assert.equal(skill?.type, 'skill');
    assert.equal(skill?.fromCollection, 'default');
    assert.equal(skill?.deployedAt, '2026-01-05T09:30:12.123456');
    assert.equal(skill?.artifactPath, 'skills/pdf-tools');
    assert.equal(skill?.contentHash, HASH);
    assert.equal(skill?.deploymentProfileId, 'claude_code');
    assert.equal(skill?.profileRootDir, '.claude');
    assert.equal(skill?.raw.future_key, 'a key a newer SkillMeat may write');
    assert.equal((skill?.raw.version_lineage as string[]).length, 2);
    assert.equal(command?.artifactPath, 'commands/review.md');
    assert.equal(command?.deployedAt, '2026-01-05T09:30:13');
  });

  it('writes it back byte for byte, unknown key included', () => {
    const bytes = fs.readFileSync(FIXTURE);
    assert.equal(serializeTrackingFile(parseTrackingFile(bytes, FIXTURE)), bytes.toString('utf8'));
  });

  it('writes a new record in SkillMeat key order, and updating it keeps keys SkillMeat does not write', () => {
    const tracking = emptyTrackingFile('/p/.claude/.skillmeat-deployed.toml');
    const fields = {
      name: 'review',
      type: 'command' as const,
      fromCollection: 'default',
      deployedAt: '2026-01-05T09:30:13.000000',
      artifactPath: 'commands/review.md',
      contentHash: HASH,
      deploymentProfileId: 'claude_code',
      platform: 'claude_code',
      profileRootDir: '.claude',
    };
    setRecord(tracking, fields);
    const text = serializeTrackingFile(tracking);
    assert.equal(
      text,
      `[[deployed]]\nartifact_name = "review"\nartifact_type = "command"\nfrom_collection = "default"\ndeployed_at = "2026-01-05T09:30:13.000000"\nartifact_path = "commands/review.md"\ncontent_hash = "${HASH}"\nlocal_modifications = false\nmerge_base_snapshot = "${HASH}"\ndeployment_profile_id = "claude_code"\nplatform = "claude_code"\nprofile_root_dir = ".claude"\ncollection_sha = "${HASH}"\n`,
    );
    const again = parseTrackingFile(text, tracking.file);
    (again.records[0]?.raw as Record<string, unknown>).ours = 'kept';
    setRecord(again, { ...fields, deployedAt: '2026-01-06T08:00:00.000000' });
    const rewritten = serializeTrackingFile(again);
    assert.match(rewritten, /deployed_at = "2026-01-06T08:00:00.000000"/);
    assert.match(rewritten, /collection_sha = "[0-9a-f]{64}"\nours = "kept"\n$/);
    assert.equal(parseTrackingFile(rewritten, tracking.file).records.length, 1);
    removeRecord(again, fields);
    assert.equal(serializeTrackingFile(again), 'deployed = []\n');
  });

  it('writes deployed_at as a naive local time with microseconds', () => {
    const date = new Date(2026, 0, 5, 9, 3, 7, 45);
    assert.equal(localNaiveTime(date), '2026-01-05T09:03:07.045000');
  });

  it('falls back to collection_sha as SkillMeat does', () => {
    const text = record('').replace(`content_hash = "${HASH}"\n`, `collection_sha = "${HASH}"\n`);
    assert.equal(parseTrackingFile(text, 'f').records[0]?.contentHash, HASH);
  });

  it('names file and line of what is wrong', () => {
    const second = `${record('')}\n${record('').replace('"x"', '"y"').replace(`content_hash = "${HASH}"\n`, '')}`;
    const missing = rejection(second);
    assert.equal(missing.failure.code, 'tracking-invalid');
    assert.equal(
      missing.message,
      '/p/.claude/.skillmeat-deployed.toml:10: artifact skill/y: no content_hash (nor collection_sha)',
    );
    assert.match(
      rejection('[[deployed]]\nartifact_name = "x"\n').message,
      /:1: deployed\[0\] has no "artifact_type"/,
    );
    assert.match(
      rejection(record('').replace('"skill"', '"spell"')).message,
      /:1: artifact spell\/x: unknown artifact type/,
    );
    assert.match(rejection(record('').replace('= false', '= false\n= oops')).message, /\.toml:9:\d+: /);
    assert.match(rejection('deployed = "x"\n').message, /"deployed" must be an array of tables/);
    assert.match(
      rejection(`${record('')}\n${record('')}`).message,
      /:10: artifact skill\/x: duplicate deployment/,
    );
    assert.match(rejection(record('').replace(HASH, 'abc')).message, /malformed content_hash/);
    assert.match(
      rejection(record('').replace('"2026-01-05T09:30:12"', '2026-01-05T09:30:12')).message,
      /deployed_at must be a string/,
    );
  });

  it('refuses an artifact_path that leaves the profile root', () => {
    for (const [bad, reason] of [
      ['/etc/passwd', 'is absolute'],
      ['../../etc', 'leaves the profile root'],
      ['skills/../../x', 'leaves the profile root'],
      ['.', 'is the profile root itself'],
      ['skills\\x', 'contains a backslash'],
      ['', 'is empty'],
    ]) {
      assert.equal(artifactPathProblem(bad as string), reason, bad);
      const error = rejection(
        record('').replace('artifact_path = "skills/x"', `artifact_path = ${JSON.stringify(bad)}`),
      );
      assert.match(
        error.message,
        /^\/p\/\.claude\/\.skillmeat-deployed\.toml:1: artifact skill\/x: artifact_path /,
      );
    }
    assert.equal(artifactPathProblem('skills/x'), undefined);
  });

  it('refuses a deployed path or profile root that leaves through a symlink', () => {
    const base = tempDir();
    const project = path.join(base, 'app');
    const outside = path.join(base, 'outside');
    writeTree(outside, { 'x/SKILL.md': 'hi\n' });
    const root = projectProfileRoot(project);
    fs.mkdirSync(path.join(root.dir, 'skills'), { recursive: true });
    fs.symlinkSync(path.join(outside, 'x'), path.join(root.dir, 'skills/x'));
    fs.writeFileSync(path.join(root.dir, '.skillmeat-deployed.toml'), record(''));
    const tracking = readTrackingFile(root);
    assert.ok(tracking);
    const rec = tracking.records[0];
    assert.ok(rec);
    assert.throws(
      () => deployedLocation(root, rec, tracking.file),
      /skill\/x: artifact_path "skills\/x" leads out of the profile root through a symlink/,
    );
    // A dangling link that points out is caught too.
    fs.unlinkSync(path.join(root.dir, 'skills/x'));
    fs.symlinkSync(path.join(outside, 'gone'), path.join(root.dir, 'skills/x'));
    assert.throws(() => deployedLocation(root, rec, tracking.file), /through a symlink/);
    // A link inside the root is fine.
    fs.unlinkSync(path.join(root.dir, 'skills/x'));
    writeTree(root.dir, { 'skills/real/SKILL.md': 'hi\n' });
    fs.symlinkSync(path.join(root.dir, 'skills/real'), path.join(root.dir, 'skills/x'));
    assert.equal(deployedLocation(root, rec, tracking.file), path.join(root.dir, 'skills/x'));
    // A profile root that is itself a link out of the project.
    const other = path.join(base, 'app2');
    fs.mkdirSync(other);
    fs.symlinkSync(root.dir, path.join(other, '.claude'));
    const linked = projectProfileRoot(other);
    assert.throws(() => deployedLocation(linked, rec, tracking.file), /a symlink out of/);
  });

  it('reads a missing tracking file as nothing deployed', () => {
    assert.equal(readTrackingFile(projectProfileRoot(tempDir())), undefined);
  });
});
