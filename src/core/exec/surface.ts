/**
 * What in an artifact as it stands can run (DESIGN §11), for the tree's mark: judged by names and modes
 * only — a `hooks/` folder, a `scripts/` folder, a `settings.json`, an `.mcp.json`, an executable file —
 * so marking a large collection reads no file contents. The findings an update or add asks about are
 * the content rules of rules.ts; this only says where to look.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsPath } from '../base/fileNames.js';
import { isNoisePath } from '../base/noise.js';
import { walkSync } from '../ports/walk.js';

export type SurfaceKind = 'hooks' | 'scripts' | 'settings' | 'mcp' | 'executable';

/** The kinds of runnable content in an artifact (folder or single file), in a fixed order; [] when none or unreadable. */
export function executableSurface(target: string): SurfaceKind[] {
  const found = new Set<SurfaceKind>();
  let st: fs.Stats;
  try {
    st = fs.lstatSync(fsPath(target));
  } catch {
    return [];
  }
  const judge = (rel: string, mode: number): void => {
    if (isNoisePath(rel)) return;
    const segments = rel.split('/');
    const name = segments[segments.length - 1] ?? '';
    if (segments.slice(0, -1).includes('hooks')) found.add('hooks');
    if (segments.slice(0, -1).includes('scripts')) found.add('scripts');
    if (/^settings(\.local)?\.json$/.test(name)) found.add('settings');
    if (name === '.mcp.json') found.add('mcp');
    if ((mode & 0o170000) === 0o100000 && mode & 0o111) found.add('executable');
  };
  if (st.isDirectory()) {
    try {
      for (const file of walkSync(target).files) judge(file.rel, file.mode);
    } catch {
      return [];
    }
  } else judge(path.basename(target), st.mode);
  return (['hooks', 'settings', 'mcp', 'scripts', 'executable'] as const).filter((kind) => found.has(kind));
}
