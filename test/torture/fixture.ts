/**
 * The collection the reliability tests abuse: the synthetic collection of bench/generate.ts (every
 * artifact local) plus artifacts added from a real local git upstream at v1 with local edits that merge
 * cleanly with v2, a pinned snapshot of another state to restore, an exported tarball to import, and a
 * folder to add. Built once per run; `resetTo` brings it back between trials. No node:test import here:
 * the campaign is a plain script.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateCollection } from '../../bench/generate.js';
import { addFromSource } from '../../src/core/transfer/add.js';
import { silentLogger } from '../../src/core/base/changes.js';
import { loadCollection, loadCollectionCaching } from '../../src/core/model/collection.js';
import { isParseCacheEntry } from '../../src/core/model/parseCache.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { STATE_DIR } from '../../src/core/base/changes.js';
import { fixedClock } from '../../src/core/base/time.js';
import { initCollection } from '../../src/core/transfer/init.js';
import { serializeLock, setEntry } from '../../src/core/model/lock.js';
import { serializeManifest, setArtifactFields } from '../../src/core/model/manifest.js';
import { exportSnapshotFile, takeSnapshot } from '../../src/core/transfer/restore.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';
import { deployArtifacts } from '../../src/core/transfer/deploy.js';
import { projectProfileRoot } from '../../src/core/projects/profiles.js';
import { commitAll, git } from './git.js';
import { leftovers, listTree, resetTo } from './tree.js';
import type { Listing } from './tree.js';
import { writeFileAt } from '../support/files.js';

/** The repository root, from out/test/torture/*.js. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');
/** The bundled CLI (`npm run build`), as users run it. */
export const DIST_CLI = path.join(REPO_ROOT, 'dist/cli.js');
/** The tsc-compiled CLI (`compile-tests`), what the unit suite runs. */
export const OUT_CLI = path.join(REPO_ROOT, 'out/src/cli/main.js');

/** Every run pins the clock: an uninterrupted run's after-tree is then byte-exact and reproducible. */
export const PINNED_NOW = '2025-06-01T12:00:00.000Z';
/** The same pin for operations run in this process: the core takes its clock in the options. */
export const PINNED_CLOCK = fixedClock(new Date(PINNED_NOW));

export type Size = 'tiny' | 'small' | 'large';

export const SIZES: Record<
  Size,
  { skills: number; commands: number; agents: number; upstreamSkills: number; upstreamCommands: number }
> = {
  // ≈ 11,000 files: DESIGN §9's large collection.
  large: { skills: 1000, commands: 500, agents: 500, upstreamSkills: 20, upstreamCommands: 5 },
  // ≈ 300 files, for quick runs and the unit suite.
  small: { skills: 20, commands: 15, agents: 15, upstreamSkills: 4, upstreamCommands: 2 },
  // ≈ 60 files: the fault and hostile-input tests, where every run counts.
  tiny: { skills: 3, commands: 2, agents: 2, upstreamSkills: 1, upstreamCommands: 1 },
};

export type CommandKind =
  | 'update-overwrite'
  | 'update-merge'
  | 'relock'
  | 'restore'
  | 'add'
  | 'import'
  | 'snapshot'
  | 'deploy-merge'
  | 'pull';

export const COMMAND_KINDS: readonly CommandKind[] = [
  'update-overwrite',
  'update-merge',
  'relock',
  'restore',
  'add',
  'import',
  'snapshot',
  'deploy-merge',
  'pull',
];

/** The project the project moves change (the second store), relative to the fixture's root. */
export const PROJECT_DIR = 'project';
/** Its tracking file: a deploy's only record beside the copies (no collection.lock change). */
export const TRACKING_REL = '.claude/.skillmeat-deployed.toml';

/**
 * The file whose content says whether `kind` committed: the collection's lock, or for a deploy (which
 * changes only the project) the project's tracking file.
 */
export function commitFile(fixture: Pick<Fixture, 'dir' | 'project'>, kind: CommandKind): string {
  return kind === 'deploy-merge'
    ? path.join(fixture.project, TRACKING_REL)
    : path.join(fixture.dir, 'collection.lock');
}

/** Kinds that go through the transaction engine (journal, commit point); the others only touch the store. */
export function isTransactional(kind: CommandKind): boolean {
  return kind !== 'import' && kind !== 'snapshot';
}

export interface Fixture {
  root: string;
  /** The collection. */
  dir: string;
  size: Size;
  files: number;
  upstream: string;
  /** A copy of the before-state (without `.artifact-keeper/`), the source of every reset. */
  pristineDir: string;
  pristine: Listing;
  /** Outside the collection: what its symlinked artifact folders point to. No command may write here. */
  dotfiles: string;
  /** The dotfiles as they must stay. */
  outside: Listing;
  /** The project the deploy and pull trials change: `.claude/` with two deployed artifacts, both edited. */
  project: string;
  projectPristineDir: string;
  projectPristine: Listing;
  /** Pinned snapshot of the after-state of an overwrite update: what `restore` goes to. */
  restoreId: string;
  tarball: string;
  cli: string;
  args(kind: CommandKind): string[];
  /** Runs the CLI to the end (synchronously) on the collection with the pinned clock. */
  run(args: string[], extraEnv?: Record<string, string>): CliRun;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ARTIFACT_KEEPER_NOW: PINNED_NOW };
  delete env.ARTIFACT_KEEPER_FAULT;
  delete env.ARTIFACT_KEEPER_LOG;
  return { ...env, ...extra };
}

export function runCliSync(
  cli: string,
  dir: string,
  args: string[],
  extraEnv: Record<string, string> = {},
  input = '',
): CliRun {
  const started = performance.now();
  const result = spawnSync(process.execPath, [cli, ...args, '--collection', dir], {
    cwd: dir,
    env: cliEnv(extraEnv),
    encoding: 'utf8',
    input,
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    code: result.status ?? -1,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    ms: performance.now() - started,
  };
}

const SKILL_V1 = (name: string): string =>
  [
    '---',
    `name: ${name}`,
    `description: Upstream skill ${name} for the reliability campaign.`,
    '---',
    `# ${name}`,
    '',
    'Step one: read the input.',
    'Step two: transform it.',
    'Step three: write the output.',
    '',
    ...Array.from({ length: 24 }, (_, i) => `Detail line ${i + 1} of ${name}: keep this stable.`),
    '',
  ].join('\n');

const SKILL_V2 = (name: string): string =>
  SKILL_V1(name).replace('Step one: read the input.', 'Step one: read the input, now streaming (v2).');

const COMMAND_V1 = (name: string): string =>
  [
    '---',
    `description: Upstream command ${name}.`,
    '---',
    `# /${name}`,
    'Line A',
    'Line B',
    ...Array.from({ length: 12 }, (_, i) => `Body ${i + 1}`),
    '',
  ].join('\n');

const COMMAND_V2 = (name: string): string =>
  COMMAND_V1(name).replace('Line A', 'Line A, improved upstream (v2)');

/** Builds the upstream repository: v1 and v2 of every upstream skill and command, plus `extra` to add. */
function buildUpstream(dir: string, skills: number, commands: number): void {
  fs.mkdirSync(dir, { recursive: true });
  git(undefined, ['init', '--quiet', '--initial-branch=main', '--', dir]);
  const write = (rel: string, content: string, mode = 0o644): void => writeFileAt(dir, rel, content, mode);
  const skillNames = Array.from({ length: skills }, (_, i) => `up-${String(i).padStart(2, '0')}`);
  const commandNames = Array.from({ length: commands }, (_, i) => `upcmd-${String(i).padStart(2, '0')}`);
  for (const name of [...skillNames, 'extra']) {
    write(`skills/${name}/SKILL.md`, SKILL_V1(name));
    write(`skills/${name}/ref/guide.md`, `# Guide for ${name}\n\n${'Use it carefully.\n'.repeat(40)}`);
    write(`skills/${name}/ref/old.md`, `# Old notes for ${name}\n`);
    write(`skills/${name}/scripts/run.sh`, `#!/bin/sh\necho ${name} v1\n`, 0o755);
  }
  for (const name of commandNames) write(`commands/${name}.md`, COMMAND_V1(name));
  commitAll(dir, 'v1', 1_700_000_000, 'v1');
  for (const name of [...skillNames, 'extra']) {
    write(`skills/${name}/SKILL.md`, SKILL_V2(name));
    write(
      `skills/${name}/ref/guide.md`,
      `# Guide for ${name}\n\n${'Use it carefully.\n'.repeat(40)}## New in v2\n`,
    );
    fs.rmSync(path.join(dir, `skills/${name}/ref/old.md`));
    write(`skills/${name}/ref/new.md`, `# New in v2 for ${name}\n`);
    write(`skills/${name}/scripts/run.sh`, `#!/bin/sh\necho ${name} v2\n`, 0o755);
    write(`skills/${name}/scripts/tool.py`, `print("${name}")\n`, 0o755);
  }
  for (const name of commandNames) write(`commands/${name}.md`, COMMAND_V2(name));
  commitAll(dir, 'v2', 1_700_000_100, 'v2');
}

/**
 * Moves the synthetic collection generated in `from` into `dir`: its artifact files, and its manifest
 * and lock entries appended to `dir`'s, every one made local (bench/generate.ts marks half of them as
 * GitHub artifacts with fake upstreams, which `update --all` could never reach).
 */
function mergeSynthetic(from: string, dir: string): void {
  const generated = loadCollection(from);
  const target = loadCollection(dir);
  const list = target.manifest.raw.artifacts as unknown[];
  for (const entry of generated.manifest.artifacts) {
    setArtifactFields(entry, {
      origin: 'local',
      upstream: undefined,
      version_spec: undefined,
      resolved_sha: undefined,
      resolved_version: undefined,
    });
    list.push(entry.raw);
    const lockEntry = generated.lock.entries.get(`${entry.name}::${entry.type}`);
    if (!lockEntry) throw new Error(`generated collection has no lock entry for ${entry.name}`);
    setEntry(target.lock, entry, { content_hash: lockEntry.contentHash, fetched: lockEntry.fetched ?? '' });
    const abs = path.join(dir, entry.path);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    try {
      fs.renameSync(path.join(from, entry.path), abs);
    } catch (err) {
      // The collection may live on its own file system (the full-disk test's tmpfs).
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      fs.cpSync(path.join(from, entry.path), abs, { recursive: true });
    }
  }
  fs.writeFileSync(path.join(dir, 'collection.toml'), serializeManifest(target.manifest));
  fs.writeFileSync(path.join(dir, 'collection.lock'), serializeLock(target.lock));
  fs.rmSync(from, { recursive: true, force: true });
}

// The upstream artifacts carry executable scripts: the campaign judges crashes, not approvals (DESIGN §11).
const setupOptions = {
  fs: nodeFs,
  logger: silentLogger,
  tool: 'torture-setup',
  clock: PINNED_CLOCK,
  exec: { allow: true },
};

/**
 * Builds everything in `root` (which must exist and be empty). `log` gets one line per setup step.
 * The upstream artifacts are added while the collection is still small (each add snapshots it), then
 * the synthetic files join. The before-state reads `modified`: half the upstream artifacts carry local
 * edits on purpose, which merge combines with v2, overwrite drops and keep keeps.
 */
export async function buildFixture(
  root: string,
  size: Size,
  cli: string,
  log: (line: string) => void = () => undefined,
): Promise<Fixture> {
  const sizes = SIZES[size];
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  // The clock is pinned through the options here (setupOptions), and through the environment for the CLI.
  const dir = path.join(root, 'collection');
  const upstream = path.join(root, 'upstream', 'kit');
  fs.mkdirSync(dir, { recursive: true });
  await initCollection(dir, { ...setupOptions, name: 'torture' });
  buildUpstream(upstream, sizes.upstreamSkills, sizes.upstreamCommands);
  const sources = [
    ...Array.from(
      { length: sizes.upstreamSkills },
      (_, i) => `${upstream}#skills/up-${String(i).padStart(2, '0')}@v1`,
    ),
    ...Array.from(
      { length: sizes.upstreamCommands },
      (_, i) => `${upstream}#commands/upcmd-${String(i).padStart(2, '0')}.md@v1`,
    ),
  ];
  for (const source of sources) await addFromSource(dir, source, { cwd: root }, setupOptions);
  for (let i = 0; i < sizes.upstreamSkills; i += 2) {
    const skill = path.join(dir, `skills/up-${String(i).padStart(2, '0')}`);
    fs.appendFileSync(path.join(skill, 'SKILL.md'), `Local note ${i}: our own addition.\n`);
    fs.writeFileSync(path.join(skill, 'local.md'), `# Local file ${i}\n`);
  }
  for (let i = 0; i < sizes.upstreamCommands; i += 2) {
    fs.appendFileSync(path.join(dir, `commands/upcmd-${String(i).padStart(2, '0')}.md`), 'Local footer.\n');
  }
  log(`added ${sources.length} upstream artifacts at v1 (${elapsed()})`);

  // The project: two artifacts deployed, then changed on both sides (the project copy of the skill, and
  // the collection's copy of it), so a deploy with merge and a pull both merge.
  // A collection mounted on a file system of its own (the full-disk test's tmpfs) cannot share a
  // transaction with a project beside it: there the project stays empty and the project moves are not run.
  const project = path.join(root, PROJECT_DIR);
  fs.mkdirSync(project);
  if (fs.statSync(dir).dev === fs.statSync(root).dev) {
    await deployArtifacts(dir, projectProfileRoot(project), ['up-00', 'upcmd-00'], setupOptions);
    fs.appendFileSync(
      path.join(project, '.claude/skills/up-00/SKILL.md'),
      'Project note: kept by the project.\n',
    );
    fs.writeFileSync(
      path.join(dir, 'skills/up-00/collection-note.md'),
      '# Added in the collection after the deploy\n',
    );
  }
  const projectPristineDir = path.join(root, 'project-pristine');
  fs.cpSync(project, projectPristineDir, { recursive: true });
  const projectPristine = listTree(project, new Set());

  // What `import` brings in: an export of the collection as it is now, before the synthetic files.
  const small = await takeSnapshot(dir, { message: 'import source', trigger: 'user' }, setupOptions);
  const tarball = path.join(root, 'import-source.tar.gz');
  await exportSnapshotFile(dir, small.id, tarball, setupOptions);

  const generatedDir = path.join(root, 'generated');
  fs.mkdirSync(generatedDir);
  generateCollection(generatedDir, {
    skills: sizes.skills,
    commands: sizes.commands,
    agents: sizes.agents,
    seed: 7,
  });
  mergeSynthetic(generatedDir, dir);
  // Dotfiles setups: one synthetic skill folder is a symlink to a folder outside the collection.
  const dotfiles = path.join(root, 'dotfiles');
  const [linked, unlinked] = syntheticSkills(dir);
  moveToDotfiles(dir, linked, dotfiles);
  // A file of the collection's own (no artifact's, so every lock hash holds) that becomes a folder.
  fs.writeFileSync(path.join(dir, RETYPED), '# Notes\n');
  const pristineDir = path.join(root, 'pristine');
  fs.cpSync(dir, pristineDir, {
    recursive: true,
    filter: (src) => !(path.basename(src) === '.artifact-keeper' && path.dirname(src) === dir),
  });
  const pristine = listTree(dir);
  log(`collection of ${pristine.size} files and folders (${elapsed()})`);

  // The restore target: the after-state of an overwrite update, pinned so retention never prunes it.
  await updateArtifacts(dir, 'all', { strategy: 'overwrite', to: 'v2' }, setupOptions);
  // Type changes for restore to undo: the linked skill a real folder again (symlink → folder), another
  // one moved to the dotfiles (folder → symlink), the notes file a folder (file → folder).
  fs.rmSync(path.join(dir, linked));
  fs.cpSync(path.join(dotfiles, path.basename(linked)), path.join(dir, linked), { recursive: true });
  moveToDotfiles(dir, unlinked, dotfiles);
  fs.rmSync(path.join(dir, RETYPED));
  fs.mkdirSync(path.join(dir, RETYPED));
  fs.writeFileSync(path.join(dir, RETYPED, 'was-a-file.md'), '# Notes\n');
  const target = await takeSnapshot(
    dir,
    { message: 'restore target', trigger: 'user', pinned: true },
    setupOptions,
  );
  resetTo(dir, listTree(dir), pristine, pristineDir);
  // The parse cache as it is for the pristine manifest and lock, kept beside the pristine copy: each
  // reset puts it back, so every run starts with it warm, as the enumerating run did. (A command that
  // commits teaches the cache its new lock; the next run's read would then miss and write the cache
  // before the commit point, a best-effort write that comes and goes between runs.)
  await loadCollectionCaching(dir, nodeFs);
  fs.mkdirSync(path.join(pristineDir, STATE_DIR), { recursive: true });
  for (const name of parseCacheEntries(dir))
    fs.copyFileSync(path.join(dir, STATE_DIR, name), path.join(pristineDir, STATE_DIR, name));
  // The stored upstream and deployed copies as they are now, put back by each reset too: a move that
  // stores a copy (a deploy's, a pull's) then stores it again in every run, as the enumerating run did,
  // instead of finding it stored and moving no ref.
  fs.writeFileSync(path.join(pristineDir, STATE_DIR, STORE_REFS_FILE), JSON.stringify([...storeRefs(dir)]));
  log(`restore target ${target.id} pinned (${elapsed()})`);
  const outside = listTree(dotfiles, new Set());

  const run = (args: string[], extraEnv: Record<string, string> = {}): CliRun =>
    runCliSync(cli, dir, args, extraEnv);
  const fixture: Fixture = {
    root,
    dir,
    size,
    files: pristine.size,
    upstream,
    pristineDir,
    pristine,
    dotfiles,
    outside,
    restoreId: target.id,
    project,
    projectPristineDir,
    projectPristine,
    tarball,
    cli,
    args: (kind) => commandArgs(fixture, kind),
    run,
  };
  return fixture;
}

/** The collection's own notes: a file before, a folder in the restore target. */
const RETYPED = 'NOTES';

/** Two synthetic (local) skills, by folder: the ones the symlink type changes use. */
function syntheticSkills(dir: string): [string, string] {
  const names = fs
    .readdirSync(path.join(dir, 'skills'))
    .filter((name) => !name.startsWith('up-'))
    .sort();
  const [a, b] = names;
  if (!a || !b) throw new Error('the fixture needs two synthetic skills');
  return [`skills/${a}`, `skills/${b}`];
}

/** Moves an artifact folder into `dotfiles` and leaves an absolute symlink to it in its place. */
function moveToDotfiles(dir: string, rel: string, dotfiles: string): void {
  fs.mkdirSync(dotfiles, { recursive: true });
  const away = path.join(dotfiles, path.basename(rel));
  fs.cpSync(path.join(dir, rel), away, { recursive: true });
  fs.rmSync(path.join(dir, rel), { recursive: true });
  fs.symlinkSync(away, path.join(dir, rel));
}

export function commandArgs(
  fixture: Pick<Fixture, 'restoreId' | 'tarball' | 'upstream' | 'project'>,
  kind: CommandKind,
): string[] {
  switch (kind) {
    case 'update-overwrite':
    case 'update-merge':
      return ['update', '--all', '--strategy', kind.slice('update-'.length), '--to', 'v2', '--allow-exec'];
    case 'relock':
      // `update --strategy keep` writes nothing now; relock is the other transaction over local edits.
      return ['relock', '--all-modified'];
    case 'restore':
      return ['restore', fixture.restoreId];
    case 'add':
      return ['add', `${fixture.upstream}#skills/extra@v2`, '--allow-exec'];
    case 'import':
      return ['import', fixture.tarball];
    case 'snapshot':
      return ['snapshot', '-m', 'torture', '--keep', '3', '--max-age-days', '0'];
    case 'deploy-merge':
      return [
        'deploy',
        'up-00',
        'upcmd-00',
        '--project',
        fixture.project,
        '--strategy',
        'merge',
        '--allow-exec',
      ];
    case 'pull':
      return ['pull', 'up-00', '--project', fixture.project, '--strategy', 'merge', '--allow-exec'];
  }
}

/**
 * Puts the collection back to its before-state for the next case: whatever a failed command left in
 * `.artifact-keeper/` (journal, work areas, temps, a dead holder's lock) goes, then only the collection
 * paths that differ from the pristine copy are rewritten.
 */
export function resetFixture(
  fixture: Pick<Fixture, 'dir' | 'pristine' | 'pristineDir'> &
    Partial<Pick<Fixture, 'project' | 'projectPristine' | 'projectPristineDir'>>,
): void {
  for (const rel of leftovers(fixture.dir))
    fs.rmSync(path.join(fixture.dir, rel), { recursive: true, force: true });
  resetTo(fixture.dir, listTree(fixture.dir), fixture.pristine, fixture.pristineDir);
  restoreParseCache(fixture);
  restoreStoreRefs(fixture);
  if (fixture.project && fixture.projectPristine && fixture.projectPristineDir)
    resetTo(
      fixture.project,
      listTree(fixture.project, new Set()),
      fixture.projectPristine,
      fixture.projectPristineDir,
    );
}

/** The prefix of the project's paths in a listing of both stores. */
const PROJECT_PREFIX = '@project/';

/** Both stores in one listing: the collection's paths, then the project's under `@project/`. */
export function listBoth(fixture: Pick<Fixture, 'dir' | 'project'>): Listing {
  const both: Listing = new Map(listTree(fixture.dir));
  for (const [rel, what] of listTree(fixture.project, new Set())) both.set(`${PROJECT_PREFIX}${rel}`, what);
  return both;
}

/** The before-state of both stores. */
export function pristineBoth(fixture: Pick<Fixture, 'pristine' | 'projectPristine'>): Listing {
  const both: Listing = new Map(fixture.pristine);
  for (const [rel, what] of fixture.projectPristine) both.set(`${PROJECT_PREFIX}${rel}`, what);
  return both;
}

/** Puts both stores back to their before-state from a listing of both; only what differs is rewritten. */
export function resetBoth(fixture: Fixture, current: Listing): void {
  const collection: Listing = new Map();
  const project: Listing = new Map();
  for (const [rel, what] of current) {
    if (rel.startsWith(PROJECT_PREFIX)) project.set(rel.slice(PROJECT_PREFIX.length), what);
    else collection.set(rel, what);
  }
  resetTo(fixture.dir, collection, fixture.pristine, fixture.pristineDir);
  restoreParseCache(fixture);
  restoreStoreRefs(fixture);
  resetTo(fixture.project, project, fixture.projectPristine, fixture.projectPristineDir);
}

/** The parse cache's entries in a collection's state folder (`parse-cache-<sha256>.json`). */
function parseCacheEntries(dir: string): string[] {
  try {
    return fs.readdirSync(path.join(dir, STATE_DIR)).filter(isParseCacheEntry);
  } catch {
    return [];
  }
}

/** Puts back the parse cache kept beside the pristine copy (see buildFixture): its entries, and no other. */
const STORE_REFS_FILE = 'fixture-store-refs.json';
const STORE_REF_PREFIXES = ['refs/upstream/', 'refs/deployed/'];

/** The snapshot store's refs of stored upstream and deployed copies, name to commit. */
function storeRefs(dir: string): Map<string, string> {
  const gitDir = path.join(dir, STATE_DIR, 'snapshots.git');
  const out = spawnSync(
    'git',
    ['--git-dir', gitDir, 'for-each-ref', '--format=%(refname) %(objectname)', ...STORE_REF_PREFIXES],
    {
      encoding: 'utf8',
    },
  );
  if (out.status !== 0) throw new Error(`for-each-ref in ${gitDir}: ${out.stderr}`);
  return new Map(
    out.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string]),
  );
}

/** Puts the store's upstream and deployed refs back as they were in the pristine state (git's own moves). */
function restoreStoreRefs(fixture: Pick<Fixture, 'dir' | 'pristineDir'>): void {
  const saved = path.join(fixture.pristineDir, STATE_DIR, STORE_REFS_FILE);
  if (!fs.existsSync(saved)) return;
  const pristine = new Map(JSON.parse(fs.readFileSync(saved, 'utf8')) as [string, string][]);
  const gitDir = path.join(fixture.dir, STATE_DIR, 'snapshots.git');
  // A ref a killed command left locked is left as it is: the next command's sweep is what is under test.
  const free = (ref: string): boolean => !fs.existsSync(path.join(gitDir, `${ref}.lock`));
  const now = storeRefs(fixture.dir);
  const input = [
    ...[...now.keys()].filter((ref) => !pristine.has(ref) && free(ref)).map((ref) => `delete ${ref}\n`),
    ...[...pristine]
      .filter(([ref, sha]) => now.get(ref) !== sha)
      .map(([ref, sha]) => `update ${ref} ${sha}\n`),
  ].join('');
  if (input === '') return;
  const out = spawnSync('git', ['--git-dir', gitDir, 'update-ref', '--stdin'], { input, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`update-ref in ${gitDir}: ${out.stderr}`);
}

function restoreParseCache(fixture: Pick<Fixture, 'dir' | 'pristineDir'>): void {
  const state = path.join(fixture.dir, STATE_DIR);
  if (!fs.existsSync(state)) return;
  for (const name of parseCacheEntries(fixture.dir)) fs.rmSync(path.join(state, name), { force: true });
  for (const name of parseCacheEntries(fixture.pristineDir))
    fs.copyFileSync(path.join(fixture.pristineDir, STATE_DIR, name), path.join(state, name));
}
