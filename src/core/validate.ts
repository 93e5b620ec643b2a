/**
 * Validates an artifact's final content before the commit point (DESIGN §5 step 7): paths stay inside
 * the artifact, symlinks do not escape it, a skill has a non-empty SKILL.md whose frontmatter (if any)
 * parses. Returns the problems as sentences; the caller turns them into `validation-failed`.
 */
import * as path from 'node:path';
import type { ArtifactType } from './artifact.js';
import type { Tree } from './plan.js';

export function validateArtifact(type: ArtifactType, tree: Tree, isFolder: boolean): string[] {
  const problems: string[] = [];
  for (const [rel, file] of tree) {
    if (
      rel === '' ||
      rel.startsWith('/') ||
      rel.split('/').some((part) => part === '..' || part === '' || part === '.')
    ) {
      problems.push(`path "${rel}" is not inside the artifact`);
      continue;
    }
    if (rel.includes('\0') || rel.includes('\\')) problems.push(`path "${rel}" has an illegal character`);
    if (rel.split('/').includes('.git')) problems.push(`path "${rel}" is inside a .git folder`);
    if (file.mode === 0o120000) {
      const target = file.data.toString('utf8');
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
      if (path.posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
        problems.push(`symlink "${rel}" points outside the artifact (${target})`);
      }
    }
  }
  if (type === 'skill') {
    if (!isFolder) problems.push('a skill must be a folder');
    const skillMd = tree.get('SKILL.md') ?? tree.get('skill.md');
    if (!skillMd) problems.push('SKILL.md is missing');
    else if (skillMd.mode === 0o120000) problems.push('SKILL.md is a symlink');
    else if (skillMd.data.length === 0) problems.push('SKILL.md is empty');
    else {
      const problem = frontmatterProblem(skillMd.data.toString('utf8'));
      if (problem) problems.push(`SKILL.md: ${problem}`);
    }
  } else if ((type === 'command' || type === 'agent') && !isFolder) {
    const only = [...tree.values()][0];
    if (!only || only.data.length === 0) problems.push(`the ${type} file is empty`);
  }
  return problems;
}

/**
 * A conservative check of YAML frontmatter without a YAML library: a block opened by `---` must be
 * closed, and every top-level line must be `key:`-shaped (values, lists and indented blocks pass).
 */
export function frontmatterProblem(text: string): string | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== '---') return undefined;
  const end = lines.findIndex((line, i) => i > 0 && (line.trim() === '---' || line.trim() === '...'));
  if (end < 0) return 'frontmatter is not closed by "---"';
  for (let i = 1; i < end; i++) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.trimStart().startsWith('#') || /^\s/.test(line) || line.startsWith('- '))
      continue;
    if (!/^("[^"]*"|'[^']*'|[^\s:#][^:]*?)\s*:(\s|$)/.test(line))
      return `frontmatter line ${i + 1} is not "key: value"`;
  }
  return undefined;
}
