/**
 * Deployment profiles and paths (SkillMeat format §1.5, §1.7): where a project keeps what Claude Code
 * (or Codex, Gemini, Cursor) reads, and where each artifact type goes below that profile root. Pure:
 * the home folder is passed in (the composition root reads it), nothing here touches the disk.
 */
import * as path from 'node:path';
import type { ArtifactKey, ArtifactType } from '../model/artifact.js';

/** SkillMeat's profile ids and their root folders inside a project. */
export const PROFILES = {
  claude_code: '.claude',
  codex: '.codex',
  gemini: '.gemini',
  cursor: '.cursor',
} as const;
export type ProfileId = keyof typeof PROFILES;
export const DEFAULT_PROFILE: ProfileId = 'claude_code';

export interface ProfileRoot {
  profile: ProfileId;
  /** `project`: `<project>/<root dir>`; `user`: `~/.claude`, the user scope Claude Code also reads. */
  scope: 'project' | 'user';
  /** The folder that holds the artifacts (absolute), e.g. `/work/app/.claude`. */
  dir: string;
  /** The folder the profile root must stay inside: the project, or the home folder for the user scope. */
  container: string;
}

/**
 * The profile a `--profile` value names: a SkillMeat id (`claude_code`, `codex` …), its root folder
 * (`.claude`, `.codex` …) or the folder without its dot (`claude`). Undefined when it names none.
 */
export function parseProfile(text: string): ProfileId | undefined {
  for (const [id, root] of Object.entries(PROFILES) as [ProfileId, string][]) {
    if (text === id || text === root || text === root.slice(1)) return id;
  }
  return undefined;
}

/** `<project>/.claude` (or the profile's folder). */
export function projectProfileRoot(project: string, profile: ProfileId = DEFAULT_PROFILE): ProfileRoot {
  const container = path.resolve(project);
  return { profile, scope: 'project', dir: path.join(container, PROFILES[profile]), container };
}

/** The user scope, `~/.claude`: `home` comes from the composition root (tests pass a temp folder). */
export function userProfileRoot(home: string): ProfileRoot {
  const container = path.resolve(home);
  return {
    profile: DEFAULT_PROFILE,
    scope: 'user',
    dir: path.join(container, PROFILES.claude_code),
    container,
  };
}

/**
 * The folder of each deployable type below a profile root (SkillMeat's `DEFAULT_ARTIFACT_PATH_MAP`).
 * Workflows and composites are not deployed (format §1.5), so they have none.
 */
export const DEPLOY_FOLDERS: Partial<Record<ArtifactType, string>> = {
  skill: 'skills',
  command: 'commands',
  agent: 'agents',
  hook: 'hooks',
  mcp: 'mcp',
};

/** SkillMeat deploys skills and MCP servers as folders; every other type as `<name>.md`. */
export function deployShape(type: ArtifactType): 'dir' | 'file' {
  return type === 'skill' || type === 'mcp' ? 'dir' : 'file';
}

export function isDeployable(type: ArtifactType): boolean {
  return DEPLOY_FOLDERS[type] !== undefined;
}

/**
 * Where SkillMeat deploys `key`, relative to the profile root (POSIX): `skills/<n>`, `mcp/<n>`,
 * `commands/<n>.md`, `agents/<n>.md`, `hooks/<n>.md`. Undefined for a type that is not deployed.
 */
export function deployPath(key: ArtifactKey): string | undefined {
  const folder = DEPLOY_FOLDERS[key.type];
  if (folder === undefined) return undefined;
  return deployShape(key.type) === 'dir' ? `${folder}/${key.name}` : `${folder}/${key.name}.md`;
}
