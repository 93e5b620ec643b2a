/**
 * Writing test trees, for every suite (unit, integration, torture): one file with its folders and mode,
 * or a whole map of them. The e2e suite (plain .mjs, not compiled) keeps its own copy.
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
