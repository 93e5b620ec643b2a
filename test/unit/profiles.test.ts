import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ARTIFACT_TYPES } from '../../src/core/model/artifact.js';
import type { ArtifactType } from '../../src/core/model/artifact.js';
import {
  deployPath,
  deployShape,
  isDeployable,
  parseProfile,
  projectProfileRoot,
  userProfileRoot,
} from '../../src/core/projects/profiles.js';

describe('profiles', () => {
  it('puts every profile root in its own folder of the project', () => {
    const check = (profile: Parameters<typeof projectProfileRoot>[1], folder: string): void => {
      const root = projectProfileRoot('/work/app', profile);
      assert.equal(root.dir, path.join('/work/app', folder));
      assert.equal(root.container, '/work/app');
      assert.equal(root.scope, 'project');
    };
    check(undefined, '.claude');
    check('claude_code', '.claude');
    check('codex', '.codex');
    check('gemini', '.gemini');
    check('cursor', '.cursor');
  });

  it('puts the user scope in the home folder passed in', () => {
    const root = userProfileRoot('/home/ada');
    assert.deepEqual(root, {
      profile: 'claude_code',
      scope: 'user',
      dir: '/home/ada/.claude',
      container: '/home/ada',
    });
  });

  it('reads a profile by id, by folder, or by folder without its dot', () => {
    assert.equal(parseProfile('claude_code'), 'claude_code');
    assert.equal(parseProfile('.claude'), 'claude_code');
    assert.equal(parseProfile('claude'), 'claude_code');
    assert.equal(parseProfile('codex'), 'codex');
    assert.equal(parseProfile('.gemini'), 'gemini');
    assert.equal(parseProfile('cursor'), 'cursor');
    assert.equal(parseProfile('vim'), undefined);
    assert.equal(parseProfile(''), undefined);
  });

  it('deploys every type where SkillMeat does', () => {
    const expected: Record<ArtifactType, string | undefined> = {
      skill: 'skills/x',
      command: 'commands/x.md',
      agent: 'agents/x.md',
      hook: 'hooks/x.md',
      mcp: 'mcp/x',
      workflow: undefined,
      composite: undefined,
    };
    for (const type of ARTIFACT_TYPES) {
      assert.equal(deployPath({ name: 'x', type }), expected[type], type);
      assert.equal(isDeployable(type), expected[type] !== undefined, type);
    }
    assert.equal(deployShape('skill'), 'dir');
    assert.equal(deployShape('mcp'), 'dir');
    assert.equal(deployShape('command'), 'file');
    assert.equal(deployShape('agent'), 'file');
    assert.equal(deployShape('hook'), 'file');
  });
});
