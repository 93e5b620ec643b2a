// Sample collections for the e2e scenarios and the demo: a real upstream git repository with a v1 and a
// newer v2, a collection made and filled by the real CLI (dist/cli.js), and optional local edits.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(REPO_ROOT, 'dist/cli.js');

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Upstream Author',
  GIT_AUTHOR_EMAIL: 'upstream@example.invalid',
  GIT_COMMITTER_NAME: 'Upstream Author',
  GIT_COMMITTER_EMAIL: 'upstream@example.invalid',
};

export function git(cwd, ...args) {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgSign=false', ...args], {
    cwd,
    env: { ...process.env, ...GIT_ENV },
    encoding: 'utf8',
  }).trim();
}

export function cli(...args) {
  return execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

export function writeFiles(root, files) {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    if (content === null) {
      fs.rmSync(abs, { force: true });
      continue;
    }
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  }
}

export function skillMd(name, description, usage, notes) {
  return `---\nname: ${name}\ndescription: ${description}\n---\n# ${name}\n\n## Usage\n${usage}\n\n## Limits\nFiles up to 100 MB.\n\n## Notes\n${notes}\n`;
}

const PDF = (usage, notes) => skillMd('pdf', 'Read, fill and split PDF files.', usage, notes);
const DOCX = (notes) => skillMd('docx', 'Create and edit Word documents.', 'Use python-docx.', notes);

export const UPSTREAM_V1 = {
  'skills/pdf/SKILL.md': PDF('Use the pdf tool.', 'Version one notes.'),
  'skills/pdf/reference.md': 'Reference, version one.\n',
  'skills/docx/SKILL.md': DOCX('Version one.'),
  'commands/review.md': '---\ndescription: Review a change\n---\nReview the change carefully.\n',
  'agents/helper.md': '---\nname: helper\ndescription: A helpful agent.\n---\nI help with artifacts.\n',
};

export const UPSTREAM_V2 = {
  'skills/pdf/SKILL.md': PDF('Use the pdf tool.', 'Version two notes: page ranges are now supported.'),
  'skills/pdf/reference.md': 'Reference, version two.\n',
  'skills/docx/SKILL.md': DOCX('Version two: tables are supported.'),
};

/** The local edits of the pdf skill: one that merges cleanly, one that conflicts with v2. */
export const EDITS = {
  none: {},
  separate: {
    'skills/pdf/SKILL.md': PDF('Use the pdf tool, and check the page count first.', 'Version one notes.'),
  },
  conflict: {
    'skills/pdf/SKILL.md': PDF('Use the pdf tool.', 'My own notes: always keep a backup of the original.'),
  },
};

/**
 * Makes `collectionDir` a collection (it may exist and be empty) holding pdf, docx, review and helper
 * from a fresh upstream at `upstreamDir` (v1), applies the local edit, then moves the upstream to v2.
 */
export function buildSample(
  collectionDir,
  upstreamDir,
  {
    edit = 'none',
    settings,
    name = 'my-artifacts',
    snapshotMessage,
    extraV1 = {},
    extraV2 = {},
    extraSources = [],
    check = true,
  } = {},
) {
  fs.mkdirSync(upstreamDir, { recursive: true });
  git(upstreamDir, 'init', '-q');
  writeFiles(upstreamDir, { ...UPSTREAM_V1, ...extraV1 });
  git(upstreamDir, 'add', '-A');
  git(upstreamDir, 'commit', '-q', '-m', 'v1');
  git(upstreamDir, 'tag', 'v1.0.0');
  fs.mkdirSync(collectionDir, { recursive: true });
  cli('init', '--name', name, '--collection', collectionDir);
  if (settings)
    writeFiles(collectionDir, { '.vscode/settings.json': JSON.stringify(settings, null, 2) + '\n' });
  for (const source of [
    'skills/pdf',
    'skills/docx',
    'commands/review.md',
    'agents/helper.md',
    ...extraSources,
  ]) {
    cli('add', `${upstreamDir}#${source}`, '--allow-exec', '--collection', collectionDir);
  }
  if (snapshotMessage) cli('snapshot', '-m', snapshotMessage, '--collection', collectionDir);
  writeFiles(collectionDir, EDITS[edit]);
  writeFiles(upstreamDir, { ...UPSTREAM_V2, ...extraV2 });
  git(upstreamDir, 'add', '-A');
  git(upstreamDir, 'commit', '-q', '-m', 'v2');
  git(upstreamDir, 'tag', 'v2.0.0');
  if (check) {
    // A check now, so the view shows which artifacts have updates as soon as it opens (exit 10 = updates).
    try {
      cli('check', '--collection', collectionDir);
    } catch (err) {
      if (err.status !== 10) throw err;
    }
  }
}

const cleanup = new Set();
let hooked = false;
/** Removes `dir` when this process exits (the e2e runner removes only the workspace folder). */
export function removeOnExit(dir) {
  cleanup.add(dir);
  if (hooked) return;
  hooked = true;
  process.on('exit', () => cleanup.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
}
