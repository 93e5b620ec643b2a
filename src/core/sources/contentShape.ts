/**
 * The shape of fetched content: what `inferType` reads from it (a folder with SKILL.md, a `.md` file and
 * the folders above it), the same whether it looks at a git listing before checkout or at a checked-out
 * folder, and who a refusal of the content names (the artifact when its type is known, else the source).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CoreError } from '../base/errors.js';
import { artifactId } from '../model/artifact.js';
import type { ArtifactType } from '../model/artifact.js';
import { displaySource } from './sourceSpec.js';
import type { Source } from './sourceSpec.js';

/** Fetched content before its workspace is attached (see FetchedSource). */
export interface FetchedContent {
  /** Absolute path of the fetched artifact: a folder, or a single file. */
  root: string;
  isFile: boolean;
  /** The commit fetched; undefined for a local folder. */
  sha?: string;
  /** Where the content sat in its source (the git subpath, or the local absolute path), for `inferType`. */
  sourcePath: string;
}

/** The artifact fetched content is for, named in a refusal; without a type, the type is inferred. */
export interface ArtifactHint {
  name: string;
  type?: ArtifactType | undefined;
}

/** What inferType looks at, so that a listing (before checkout) and a checked-out folder agree. */
export interface Shape {
  isFile: boolean;
  fileName: string;
  /** Whether the folder holds this regular file at its top. */
  hasFile(name: string): boolean;
  sourcePath: string;
}

/**
 * The artifact type of fetched content when `--type` is absent: a folder with SKILL.md (or skill.md) is a
 * skill; a `.md` file is an agent when its source path has an `agents` folder, else a command.
 * Throws CoreError `source-invalid` asking for --type otherwise.
 */
export function inferType(fetched: Pick<FetchedContent, 'root' | 'isFile' | 'sourcePath'>): ArtifactType {
  const type = typeOfShape({
    isFile: fetched.isFile,
    fileName: path.basename(fetched.root),
    hasFile: (name) =>
      fs.statSync(path.join(fetched.root, name), { throwIfNoEntry: false })?.isFile() ?? false,
    sourcePath: fetched.sourcePath,
  });
  if (type) return type;
  throw new CoreError({
    code: 'source-invalid',
    source: fetched.sourcePath || '.',
    reason: `cannot tell the artifact type (${fetched.isFile ? 'not a .md file' : 'a folder without SKILL.md'}); pass --type`,
  });
}

function typeOfShape(shape: Shape): ArtifactType | undefined {
  if (!shape.isFile)
    return ['SKILL.md', 'skill.md'].some((name) => shape.hasFile(name)) ? 'skill' : undefined;
  if (!shape.fileName.toLowerCase().endsWith('.md')) return undefined;
  const folders = shape.sourcePath.split(/[/\\]/).slice(0, -1);
  return folders.includes('agents') ? 'agent' : 'command';
}

/** Who a refusal names: the artifact's id when its type is given or can be inferred, else the source. */
export function contentLabel(
  source: Source,
  artifact: ArtifactHint | undefined,
  shape: Shape | undefined,
): string {
  const type = artifact?.type ?? (shape ? typeOfShape(shape) : undefined);
  if (artifact && type) return artifactId({ name: artifact.name, type });
  return source.kind === 'folder' ? source.path : displaySource(source);
}
