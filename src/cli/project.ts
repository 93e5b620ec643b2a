/**
 * What the project commands (`drift`, `status --project`) share: the profile root from `--project` and
 * `--profile`, its tracking file, and the collection found for it (DESIGN §7).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CoreError,
  discoverCollection,
  parseProfile,
  projectProfileRoot,
  PROFILES,
  readTrackingFile,
  userProfileRoot,
} from '../core/index.js';
import type { DiscoveredCollection, DriftReport, ProfileRoot, TrackingFile } from '../core/index.js';
import { UsageError } from './args.js';
import type { FlagSpec } from './args.js';
import type { CliContext } from './context.js';

export const PROJECT_FLAGS: Record<string, FlagSpec> = {
  project: { value: true },
  profile: { value: true },
  user: { value: false },
};

export interface OpenedProject {
  root: ProfileRoot;
  tracking: TrackingFile | undefined;
  collection: DiscoveredCollection;
}

/**
 * The profile root the project commands name: `--project DIR` (with `--profile`), or `--user` for
 * `~/.claude`. Reads only; UsageError when neither or both are given.
 */
export function openTarget(ctx: CliContext): OpenedProject {
  const project = ctx.flag('project');
  if (ctx.has('user')) {
    if (project !== undefined) throw new UsageError('give --project DIR or --user, not both');
    return openRoot(ctx, userProfileRoot(ctx.home));
  }
  if (project === undefined) throw new UsageError('--project DIR (or --user) is required');
  return openProject(ctx, project);
}

/** Reads only. Throws UsageError for a bad --profile, and what the core's readers throw. */
export function openProject(ctx: CliContext, project: string): OpenedProject {
  const profileText = ctx.flag('profile');
  const profile = profileText === undefined ? undefined : parseProfile(profileText);
  if (profileText !== undefined && profile === undefined)
    throw new UsageError(
      `unknown profile "${profileText}" (one of ${Object.keys(PROFILES).join(', ')}, or its folder)`,
    );
  const projectDir = path.resolve(project);
  if (!fs.statSync(projectDir, { throwIfNoEntry: false })?.isDirectory())
    throw new CoreError({
      code: 'not-a-collection',
      dir: projectDir,
      reason: 'no such project folder (--project)',
    });
  return openRoot(ctx, projectProfileRoot(projectDir, profile));
}

/** A profile root's tracking file, and the collection found for it (`--collection` first). Reads only. */
function openRoot(ctx: CliContext, root: ProfileRoot): OpenedProject {
  const tracking = readTrackingFile(root);
  const explicit = ctx.has('collection') ? ctx.collectionDir : undefined;
  const collection = discoverCollection({
    home: ctx.home,
    cwd: process.cwd(),
    ...(explicit !== undefined ? { explicit } : {}),
    ...(tracking !== undefined ? { tracking } : {}),
  });
  return { root, tracking, collection };
}

/** `3 deployed: 1 modified, 1 outdated, 1 in-sync`. */
export function driftSummary(report: DriftReport): string {
  const counts = new Map<string, number>();
  let deployed = 0;
  for (const entry of report.entries) {
    if (entry.state !== 'not-deployed') deployed++;
    counts.set(entry.state, (counts.get(entry.state) ?? 0) + 1);
  }
  const parts = [...counts].map(([state, n]) => `${n} ${state}`);
  return `${deployed} deployed${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}

export function driftJson(report: DriftReport, collection: DiscoveredCollection): unknown {
  return {
    profile: report.root.profile,
    profileRoot: report.root.dir,
    trackingFile: report.trackingFile,
    collection: collection.dir,
    collectionFoundBy: collection.via,
    inSync: report.inSync,
    artifacts: report.entries.map((e) => ({
      id: e.id,
      name: e.name,
      type: e.type,
      state: e.state,
      path: e.path,
      deployedHash: e.deployedHash ?? null,
      projectHash: e.projectHash ?? null,
      collectionHash: e.collectionHash ?? null,
    })),
  };
}
