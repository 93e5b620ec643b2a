/**
 * Writing and reading test trees, for every suite (unit, integration, torture): one file with its folders
 * and mode, or a whole map of them; every file of a collection with its text. The e2e suite (plain .mjs,
 * not compiled) keeps its own copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Writes `root/rel` (making its folders), then sets its mode. */
export function writeFileAt(root: string, rel: string, content: string | Buffer, mode = 0o644): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
  fs.chmodSync(abs, mode);
}

/** Writes `files` (rel → content) below `root`; a `null` content makes an empty folder. */
export function writeTree(root: string, files: Record<string, string | Buffer | null>): void {
  for (const [rel, content] of Object.entries(files)) {
    if (content === null) fs.mkdirSync(path.join(root, rel), { recursive: true });
    else writeFileAt(root, rel, content);
  }
}

/** Every file below `root` but our state folder (`.artifact-keeper`), with its text: for exact before/after checks. */
export function readTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (child === '.artifact-keeper') continue;
      if (entry.isDirectory()) walk(child);
      else out[child] = fs.readFileSync(path.join(root, child), 'utf8');
    }
  };
  walk('');
  return out;
}
