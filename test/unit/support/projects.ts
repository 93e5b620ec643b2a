/**
 * Test fixtures for projects: a home folder holding SkillMeat's `~/.skillmeat/collections/default`
 * (a skill, a command and an agent, locked) and a project whose `.claude/` has all three deployed, with
 * a tracking file written through the core's writer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { contentHash } from '../../../src/core/model/hash.js';
import { projectProfileRoot } from '../../../src/core/projects/profiles.js';
import type { ProfileRoot } from '../../../src/core/projects/profiles.js';
import {
  emptyTrackingFile,
  serializeTrackingFile,
  setRecord,
  trackingFilePath,
} from '../../../src/core/projects/trackingFile.js';
import { tempDir, writeTree } from './collections.js';

export interface ProjectSetup {
  home: string;
  collection: string;
  project: string;
  root: ProfileRoot;
}

/** The artifacts of the collection: type, name, path in the collection and in the profile root, files. */
export const DEPLOYED = [
  {
    type: 'skill',
    name: 'pdf',
    path: 'skills/pdf',
    files: { 'SKILL.md': '---\nname: pdf\n---\nhello\n', 'ref/a.md': 'A\n' } as Record<string, string>,
  },
  { type: 'command', name: 'review', path: 'commands/review.md', files: { '': 'Review the diff.\n' } },
  { type: 'agent', name: 'planner', path: 'agents/planner.md', files: { '': 'Plan the work.\n' } },
] as const;

function writeArtifact(root: string, rel: string, files: Record<string, string>): void {
  writeTree(
    root,
    Object.fromEntries(Object.entries(files).map(([file, text]) => [file ? `${rel}/${file}` : rel, text])),
  );
}

/** A collection folder with manifest, lock and the three artifacts (plus `extra` manifest entries). */
export function writeCollection(dir: string, name = 'default'): void {
  const artifacts = DEPLOYED.map(
    (a) =>
      `[[artifacts]]\nname = "${a.name}"\ntype = "${a.type}"\npath = "${a.path}"\norigin = "local"\nadded = "2026-01-02T10:00:00.000000"\n`,
  );
  for (const a of DEPLOYED) writeArtifact(dir, a.path, a.files);
  writeTree(dir, {
    'collection.toml': `[collection]\nname = "${name}"\nversion = "1.0.0"\ncreated = "2026-01-02T10:00:00.000000"\nupdated = "2026-01-02T10:00:00.000000"\n\n${artifacts.join('\n')}`,
  });
  const entries = DEPLOYED.map(
    (a) =>
      `[lock.entries."${a.name}::${a.type}"]\ncontent_hash = "${contentHash(path.join(dir, a.path))}"\nfetched = "2026-01-02T10:00:00.000000"\n`,
  );
  writeTree(dir, { 'collection.lock': `[lock]\nversion = "1.0.0"\n\n${entries.join('\n')}` });
}

/** Home + SkillMeat's default collection + a project with everything deployed to `.claude/`. */
export function makeProjectSetup(): ProjectSetup {
  const base = tempDir('ak-project-');
  const home = path.join(base, 'home');
  const collection = path.join(home, '.skillmeat', 'collections', 'default');
  const project = path.join(base, 'app');
  fs.mkdirSync(project, { recursive: true });
  writeCollection(collection);
  const root = projectProfileRoot(project);
  const tracking = emptyTrackingFile(trackingFilePath(root));
  for (const a of DEPLOYED) {
    writeArtifact(root.dir, a.path, a.files);
    setRecord(tracking, {
      name: a.name,
      type: a.type,
      fromCollection: 'default',
      deployedAt: '2026-01-05T09:30:12.123456',
      artifactPath: a.path,
      contentHash: contentHash(path.join(root.dir, a.path)),
      deploymentProfileId: 'claude_code',
      platform: 'claude_code',
      profileRootDir: '.claude',
    });
  }
  fs.writeFileSync(trackingFilePath(root), serializeTrackingFile(tracking));
  return { home, collection, project, root };
}
