/**
 * A deterministic synthetic collection and a large change set over it, for the crash tests: the test
 * process and the child it kills build exactly the same before-state and the same changes. No node:test
 * import here, so a plain child process can load it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileChange } from '../../../src/core/base/changes.js';
import { writeFileAt } from '../../support/files.js';

/** Small, fast, seedable PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function text(label: string, size: number): string {
  const line = `${label} lorem ipsum dolor sit amet\n`;
  return line.repeat(Math.max(1, Math.ceil(size / line.length)));
}

const name = (prefix: string, i: number): string => `${prefix}${String(i).padStart(3, '0')}`;

/** Writes the before-state: `skills` skills (SKILL.md, ref/notes.md, scripts/run.sh 0755) plus manifest and lock. */
export function buildSynthetic(dir: string, skills: number): void {
  const write = (rel: string, content: string, mode = 0o644): void => writeFileAt(dir, rel, content, mode);
  write('collection.toml', text('manifest v1', 600));
  write('collection.lock', text('lock v1', 600));
  for (let i = 0; i < skills; i++) {
    const skill = `skills/${name('s', i)}`;
    write(`${skill}/SKILL.md`, text(`${skill} skill v1`, 300 + ((i * 97) % 900)));
    write(`${skill}/ref/notes.md`, text(`${skill} notes v1`, 200));
    write(`${skill}/scripts/run.sh`, `#!/bin/sh\necho ${skill}\n`, 0o755);
  }
  fs.mkdirSync(path.join(dir, 'commands'), { recursive: true });
}

/**
 * Every kind of change, in an order valid for the transaction engine: replace, delete, mkdir/rmdir, new
 * folders, symlinks, mode changes, loader-backed data, and `collection.lock` last. Deterministic.
 */
export function syntheticChanges(skills: number): FileChange[] {
  const changes: FileChange[] = [];
  const bytes = (content: string): Buffer => Buffer.from(content, 'utf8');
  for (let i = 0; i < skills; i++) {
    const skill = `skills/${name('s', i)}`;
    switch (i % 4) {
      case 0: // upstream changed every file; one comes from a loader, like a snapshot read
        changes.push({
          kind: 'write',
          rel: `${skill}/SKILL.md`,
          data: bytes(text(`${skill} skill v2`, 500)),
          mode: 0o644,
        });
        changes.push({
          kind: 'write',
          rel: `${skill}/ref/notes.md`,
          data: () => Promise.resolve(bytes(text(`${skill} notes v2`, 250))),
          mode: 0o644,
        });
        changes.push({
          kind: 'write',
          rel: `${skill}/scripts/run.sh`,
          data: bytes(`#!/bin/sh\necho v2\n`),
          mode: 0o755,
        });
        break;
      case 1: // artifact removed
        changes.push({ kind: 'delete', rel: `${skill}/SKILL.md` });
        changes.push({ kind: 'delete', rel: `${skill}/ref/notes.md` });
        changes.push({ kind: 'rmdir', rel: `${skill}/ref` });
        changes.push({ kind: 'delete', rel: `${skill}/scripts/run.sh` });
        changes.push({ kind: 'rmdir', rel: `${skill}/scripts` });
        changes.push({ kind: 'rmdir', rel: skill });
        break;
      case 2: // new folder, a mode change, a file replaced by a symlink
        changes.push({ kind: 'mkdir', rel: `${skill}/examples` });
        changes.push({
          kind: 'write',
          rel: `${skill}/examples/a.md`,
          data: bytes(text('example', 120)),
          mode: 0o644,
        });
        changes.push({
          kind: 'write',
          rel: `${skill}/scripts/run.sh`,
          data: bytes('#!/bin/sh\necho off\n'),
          mode: 0o644,
        });
        changes.push({
          kind: 'write',
          rel: `${skill}/ref/notes.md`,
          data: bytes(''),
          mode: 0o644,
          symlinkTarget: '../SKILL.md',
        });
        break;
      default: // untouched
        break;
    }
  }
  for (let i = 0; i < Math.ceil(skills / 4); i++) {
    const skill = `skills/${name('n', i)}`;
    changes.push({ kind: 'mkdir', rel: skill });
    changes.push({
      kind: 'write',
      rel: `${skill}/SKILL.md`,
      data: bytes(text(`${skill} new`, 400)),
      mode: 0o644,
    });
    changes.push({
      kind: 'write',
      rel: `${skill}/link.md`,
      data: bytes(''),
      mode: 0o644,
      symlinkTarget: 'SKILL.md',
    });
    changes.push({
      kind: 'write',
      rel: `commands/${name('c', i)}.md`,
      data: bytes(text('command', 150)),
      mode: 0o644,
    });
  }
  changes.push({ kind: 'write', rel: 'collection.toml', data: bytes(text('manifest v2', 700)), mode: 0o644 });
  changes.push({ kind: 'write', rel: 'collection.lock', data: bytes(text('lock v2', 700)), mode: 0o644 });
  return changes;
}
