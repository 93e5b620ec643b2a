/**
 * Tests for src/core/store/snapshots.ts against real git in temp folders: exact round trips through planRestore
 * (modes, symlinks, empty folders, odd names, nested and enclosing repositories), the incremental stat
 * index, retention and gc, upstream history, and the change order the transaction engine relies on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { silentLogger } from '../../src/core/base/changes.js';
import type { FileChange } from '../../src/core/base/changes.js';
import { CoreError } from '../../src/core/base/errors.js';
import { startTrace, traceReport } from '../../src/core/base/trace.js';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { nameBytes } from '../../src/core/base/fileNames.js';
import { EMPTY_TREE, quoteForStdinPaths } from '../../src/core/store/gitObjects.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import { RACY_WINDOW_MS } from '../../src/core/store/statIndex.js';
import { planTreeChanges } from '../../src/core/store/treeDiff.js';
import type { SnapshotStore, SnapshotStoreOptions } from '../../src/core/store/snapshots.js';
import { applyChanges } from '../../src/core/txn/transaction.js';
import { comparePaths } from '../../src/core/ports/walk.js';
import { tempDir } from './support/collections.js';
import { coreErrorOf } from './support/coreErrors.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const STATE = '.artifact-keeper';

/** Files as `path → content`; a value `{ link }` makes a symlink, `{ mode }` sets the mode, `null` an empty folder. */
type Spec = Record<string, string | null | { link: string } | { text: string; mode: number }>;

/** Applies restore changes the way `restoreSnapshot` does: through the transaction engine. */
async function restoreThroughEngine(
  dir: string,
  txId: string,
  preSnapshot: string,
  changes: FileChange[],
): Promise<void> {
  await applyChanges(
    dir,
    { txId, kind: 'restore', description: 'test', artifacts: [], preSnapshot, changes, tool: 'test' },
    { fs: nodeFs, logger: silentLogger },
  );
}

function build(dir: string, spec: Spec): void {
  for (const [rel, value] of Object.entries(spec)) {
    const abs = path.join(dir, rel);
    if (value === null) {
      fs.mkdirSync(abs, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (typeof value === 'string') fs.writeFileSync(abs, value);
    else if ('link' in value) fs.symlinkSync(value.link, abs);
    else {
      fs.writeFileSync(abs, value.text);
      fs.chmodSync(abs, value.mode);
    }
  }
}

/**
 * Everything below `dir` except `.artifact-keeper` at the top and any `.git`: type, mode, content hash
 * or link target, and empty folders. Two equal listings are the same tree.
 */
function listing(dir: string): string[] {
  const out: string[] = [];
  const visit = (abs: string, rel: string): void => {
    const names = fs.readdirSync(abs).sort();
    if (names.filter((n) => n !== '.git' && !(rel === '' && n === STATE)).length === 0 && rel)
      out.push(`${rel}/ (empty)`);
    for (const name of names) {
      if (name === '.git' || (rel === '' && name === STATE)) continue;
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(childAbs);
      if (st.isSymbolicLink()) out.push(`${childRel} -> ${fs.readlinkSync(childAbs)}`);
      else if (st.isDirectory()) visit(childAbs, childRel);
      else {
        const sha = createHash('sha256').update(fs.readFileSync(childAbs)).digest('hex').slice(0, 16);
        out.push(`${childRel} ${st.mode & 0o111 ? 'x' : '-'} ${sha}`);
      }
    }
  };
  visit(dir, '');
  return out.sort();
}

/** Applies a change list the simple way (temp + rename for writes), in order. */
async function applyLocally(dir: string, changes: FileChange[]): Promise<void> {
  for (const change of changes) {
    const abs = path.join(dir, change.rel);
    switch (change.kind) {
      case 'write': {
        const temp = `${abs}.restore-tmp`;
        if (change.symlinkTarget !== undefined) fs.symlinkSync(change.symlinkTarget, temp);
        else {
          const data = typeof change.data === 'function' ? await change.data() : change.data;
          if ('copyOf' in data) fs.copyFileSync(data.copyOf, temp);
          else fs.writeFileSync(temp, data);
          fs.chmodSync(temp, change.mode);
        }
        fs.renameSync(temp, abs);
        break;
      }
      case 'delete':
        fs.unlinkSync(abs);
        break;
      case 'mkdir':
        fs.mkdirSync(abs);
        break;
      case 'rmdir':
        fs.rmdirSync(abs);
        break;
    }
  }
}

async function open(dir: string, options: Partial<SnapshotStoreOptions> = {}): Promise<SnapshotStore> {
  return openSnapshotStore(dir, {
    fs: nodeFs,
    logger: silentLogger,
    tool: 'artifact-keeper test',
    ...options,
  });
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `spec` built in `dir` and its store opened once every stamp is older than the racy window: stamps
 * within the window of an index write are not trusted next time, so they are let age (the root's too:
 * creating .artifact-keeper/ moves it, so it is created first).
 */
async function openAged(dir: string, spec: Spec): Promise<SnapshotStore> {
  build(dir, spec);
  fs.mkdirSync(path.join(dir, STATE));
  await sleep(RACY_WINDOW_MS + 100);
  return open(dir);
}

/** A collection of two files with one snapshot taken, its store closed. */
async function collectionWithASnapshot(): Promise<string> {
  const dir = tempDir();
  build(dir, { 'a.md': 'a\n', 'b/c.md': 'c\n' });
  const store = await open(dir);
  await store.create({ reason: 'x', trigger: 'user' });
  store.close();
  return dir;
}

/** A store of a one-file collection whose git processes are counted: `gitRuns('update-ref')`. */
async function openCounting(): Promise<{
  dir: string;
  store: SnapshotStore;
  gitRuns: (command: string) => number;
}> {
  const dir = tempDir();
  build(dir, { 'a.md': 'a\n' });
  const probe = new FaultPlan([]);
  const store = await open(dir, { git: { fault: probe } });
  return { dir, store, gitRuns: (command) => probe.calls.filter((c) => c.path.startsWith(command)).length };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<CoreError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CoreError, `expected CoreError ${code}, got ${String(err)}`);
    assert.equal(err.failure.code, code);
    return err;
  }
  assert.fail(`expected CoreError ${code}, but it resolved`);
}

const BASE: Spec = {
  'collection.toml': '[collection]\nname = "t"\n',
  'collection.lock': '[lock]\nversion = "1.0.0"\n',
  'skills/pdf/SKILL.md': '---\nname: pdf\n---\nhello\n',
  'skills/pdf/ref/usage.md': 'usage\n',
  'skills/pdf/scripts/run.sh': { text: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'skills/pdf/empty': null,
  'skills/café-notes/SKILL.md': 'unicode\n',
  'skills/café-notes/日本語/メモ.md': 'memo\n',
  'commands/review.md': 'review\n',
  'commands/link.md': { link: 'review.md' },
  'agents/planner.md': 'plan\n',
  'agents/dir-link': { link: '../skills/pdf' },
  'agents/dangling': { link: 'nowhere/at/all' },
  'name with spaces.md': 'spaces\n',
  '"quoted".md': 'quotes\n',
  'tab\tand\nnewline.md': 'control characters\n',
  'weird/.hidden': 'hidden\n',
  '.gitignore': '*.md\nskills/\n',
  'top-empty': null,
};

void describe('snapshot → change → planRestore → exact tree back', () => {
  void it('undoes edits, additions, deletions, mode changes, type changes and folder changes', async () => {
    const dir = tempDir();
    build(dir, BASE);
    const store = await open(dir);
    try {
      const before = listing(dir);
      const snapshot = await store.create({
        reason: 'before edits',
        trigger: 'user',
        artifacts: ['skill/pdf'],
      });

      build(dir, {
        'skills/pdf/SKILL.md': 'edited\n',
        'skills/pdf/new/deep/file.md': 'added\n',
        'brand-new.md': 'new\n',
        'skills/pdf/newly-empty': null,
      });
      fs.unlinkSync(path.join(dir, 'commands/review.md'));
      fs.rmSync(path.join(dir, 'skills/café-notes/日本語'), { recursive: true });
      fs.chmodSync(path.join(dir, 'skills/pdf/scripts/run.sh'), 0o644);
      fs.chmodSync(path.join(dir, 'agents/planner.md'), 0o755);
      fs.rmdirSync(path.join(dir, 'top-empty'));
      fs.writeFileSync(path.join(dir, 'top-empty'), 'folder became a file\n');
      fs.rmSync(path.join(dir, 'skills/pdf/ref'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'skills/pdf/ref'), 'folder became a file\n');
      fs.unlinkSync(path.join(dir, 'weird/.hidden'));
      fs.mkdirSync(path.join(dir, 'weird/.hidden'));
      fs.writeFileSync(path.join(dir, 'weird/.hidden/inside.md'), 'file became a folder\n');
      fs.unlinkSync(path.join(dir, 'commands/link.md'));
      fs.writeFileSync(path.join(dir, 'commands/link.md'), 'symlink became a file\n');
      fs.unlinkSync(path.join(dir, 'agents/dangling'));
      fs.symlinkSync('elsewhere', path.join(dir, 'agents/dangling'));
      fs.unlinkSync(path.join(dir, 'name with spaces.md'));
      fs.symlinkSync('collection.toml', path.join(dir, 'name with spaces.md'));
      assert.notDeepEqual(listing(dir), before);

      const untouched = [
        'collection.toml',
        'skills/café-notes/SKILL.md',
        'tab\tand\nnewline.md',
        '"quoted".md',
      ];
      const stamps = untouched.map((rel) => {
        const st = fs.lstatSync(path.join(dir, rel));
        return [rel, st.ino, st.mtimeMs];
      });

      const changes = await store.planRestore(snapshot.id);
      assert.ok(!changes.some((c) => untouched.includes(c.rel)), 'untouched files are not in the plan');
      await applyLocally(dir, changes);

      assert.deepEqual(listing(dir), before);
      for (const [rel, ino, mtimeMs] of stamps) {
        const st = fs.lstatSync(path.join(dir, rel as string));
        assert.equal(st.ino, ino, `${String(rel)} keeps its inode`);
        assert.equal(st.mtimeMs, mtimeMs, `${String(rel)} keeps its mtime`);
      }
      assert.deepEqual(await store.planRestore(snapshot.id), [], 'nothing left to do');
    } finally {
      store.close();
    }
  });

  void it('orders the changes so every step is valid, with the manifest and the lock last', async () => {
    const current = {
      files: new Map([
        ['a', { mode: '100644' as const, sha: 'a'.repeat(40), kind: 'file' as const }],
        ['b/c', { mode: '100644' as const, sha: 'b'.repeat(40), kind: 'file' as const }],
        ['b/d/e', { mode: '100644' as const, sha: 'c'.repeat(40), kind: 'file' as const }],
        ['collection.lock', { mode: '100644' as const, sha: 'd'.repeat(40), kind: 'file' as const }],
        ['collection.toml', { mode: '100644' as const, sha: 'e'.repeat(40), kind: 'file' as const }],
      ]),
      dirs: new Set(['b', 'b/d']),
    };
    const target = {
      files: new Map([
        ['a/x', { mode: '100755' as const, sha: 'f'.repeat(40), kind: 'file' as const }],
        ['b', { mode: '120000' as const, sha: '1'.repeat(40), kind: 'symlink' as const }],
        ['collection.lock', { mode: '100644' as const, sha: '2'.repeat(40), kind: 'file' as const }],
        ['collection.toml', { mode: '100644' as const, sha: '3'.repeat(40), kind: 'file' as const }],
      ]),
      dirs: new Set(['a']),
    };
    const { changes, skipped } = planTreeChanges(current, target, {
      keptDirs: new Set(),
      symlinkTargets: new Map([['1'.repeat(40), 'a']]),
      load: () => async () => Buffer.alloc(0),
    });
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      changes.map((c) => `${c.kind} ${c.rel}`),
      [
        'delete a',
        'delete b/c',
        'delete b/d/e',
        'rmdir b/d',
        'rmdir b',
        'mkdir a',
        'write a/x',
        'write b',
        'write collection.toml',
        'write collection.lock',
      ],
    );
    const link = changes.find((c) => c.rel === 'b' && c.kind === 'write');
    assert.equal(link?.kind === 'write' ? link.symlinkTarget : undefined, 'a');
    const exec = changes.find((c) => c.rel === 'a/x');
    assert.equal(exec?.kind === 'write' ? exec.mode : undefined, 0o755);
  });

  void it('keeps a lock that the snapshot lacks instead of deleting it', async () => {
    const dir = tempDir();
    build(dir, { 'skills/a/SKILL.md': 'a\n' });
    const store = await open(dir);
    try {
      const snapshot = await store.create({ reason: 'no lock yet', trigger: 'user' });
      build(dir, { 'collection.lock': '[lock]\nversion = "1.0.0"\n', 'skills/a/SKILL.md': 'b\n' });
      const changes = await store.planRestore(snapshot.id);
      assert.deepEqual(
        changes.map((c) => `${c.kind} ${c.rel}`),
        ['write skills/a/SKILL.md'],
      );
    } finally {
      store.close();
    }
  });

  void it('restores through the transaction engine (applyChanges) as well', async () => {
    const dir = tempDir();
    build(dir, BASE);
    const store = await open(dir);
    try {
      const before = listing(dir);
      const snapshot = await store.create({ reason: 'pre', trigger: 'user' });
      build(dir, {
        'skills/pdf/SKILL.md': 'edited\n',
        'collection.lock': 'changed lock\n',
        'extra/new.md': 'x\n',
      });
      fs.rmSync(path.join(dir, 'skills/pdf/empty'), { recursive: true });
      fs.unlinkSync(path.join(dir, 'commands/link.md'));
      fs.chmodSync(path.join(dir, 'skills/pdf/scripts/run.sh'), 0o644);
      const safety = await store.create({ reason: 'safety', trigger: 'restore' });
      const changes = await store.planRestore(snapshot.id);
      assert.equal(changes.at(-1)?.rel, 'collection.lock');
      await restoreThroughEngine(dir, 'trestoretest', safety.id, changes);
      assert.deepEqual(listing(dir), before);
    } finally {
      store.close();
    }
  });
});

void describe('files with the same content', () => {
  // Regression (found by the four-writer run): a snapshot writing 100 objects or more goes through
  // `git index-pack`, which refuses a pack holding one object twice; every file with the same content as
  // another (a LICENSE in each skill, artifacts added twice from one source) was such a duplicate, and the
  // snapshot, and so the update, failed with exit 4.
  void it('are one blob: a first snapshot of 150 files sharing 3 contents succeeds and restores', async () => {
    const dir = tempDir();
    const spec: Spec = {};
    for (let i = 0; i < 150; i++) spec[`skills/s${i}/LICENSE`] = `license ${i % 3}\n`;
    build(dir, spec);
    const store = await open(dir);
    try {
      const before = listing(dir);
      const snapshot = await store.create({ reason: 'duplicates', trigger: 'user' });
      fs.rmSync(path.join(dir, 'skills'), { recursive: true });
      // The same again, changed since: the incremental path writes the new blobs with the trees.
      for (let i = 0; i < 150; i++) spec[`skills/s${i}/LICENSE`] = `other ${i % 2}\n`;
      build(dir, spec);
      const changed = await store.create({ reason: 'changed duplicates', trigger: 'user' });
      await restoreThroughEngine(dir, 'tduplicates', changed.id, await store.planRestore(snapshot.id));
      assert.deepEqual(listing(dir), before);
    } finally {
      store.close();
    }
  });
});

void describe('objects written in chunks', () => {
  // The pack goes to git in chunks of 256 KiB, each object deflated as its chunk is made (a first snapshot
  // of 11k files held about 330 MiB before git got a byte). Incompressible files, so that the chunks are
  // full ones: both ways of writing (few objects loose, many as a pack) over several chunks.
  for (const [what, count, size] of [
    ['40 files of 24 KiB, written loose', 40, 24 * 1024],
    ['400 files of 3 KiB, written as a pack', 400, 3 * 1024],
  ] as const) {
    void it(`${what}: every byte restores`, async () => {
      const dir = tempDir();
      const spec: Spec = {};
      for (let i = 0; i < count; i++)
        spec[`skills/s${i % 7}/f${i}.bin`] = randomBytes(size / 2).toString('hex');
      build(dir, spec);
      const store = await open(dir);
      try {
        const before = listing(dir);
        const snapshot = await store.create({ reason: 'chunks', trigger: 'user' });
        fs.rmSync(path.join(dir, 'skills'), { recursive: true });
        fs.mkdirSync(path.join(dir, 'skills'));
        const emptied = await store.create({ reason: 'emptied', trigger: 'user' });
        await restoreThroughEngine(dir, 'tchunks', emptied.id, await store.planRestore(snapshot.id));
        assert.deepEqual(listing(dir), before);
      } finally {
        store.close();
      }
    });
  }
});

void describe('files git itself would refuse to check out', () => {
  // Regression: `unpack-objects --strict` refused such trees (hasDotgit, gitmodulesUrl, …), so a collection
  // holding one of these files could not be snapshotted, and therefore not be updated, at all.
  const HOSTILE: Spec = {
    'skills/a/.GIT': 'not a repository\n',
    'skills/a/git~1': 'an NTFS short name of .git\n',
    'skills/a/.gitmodules': '[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n',
    'skills/b/.gitmodules': { link: '../a/.gitmodules' },
    'skills/b/.gitattributes': `${'*.md '.repeat(1000)}text\n`,
    'skills/b/sub/.Git/config': 'x\n',
  };
  for (const many of [false, true]) {
    void it(`snapshots and restores them byte for byte (${many ? 'a pack through index-pack' : 'loose objects'})`, async () => {
      const dir = tempDir();
      const extra: Spec = {};
      if (many) for (let i = 0; i < 150; i++) extra[`skills/c/f${i}.md`] = `file ${i}\n`;
      build(dir, { ...HOSTILE, ...extra });
      const store = await open(dir);
      try {
        const before = listing(dir);
        const snapshot = await store.create({ reason: 'hostile names', trigger: 'user' });
        fs.rmSync(path.join(dir, 'skills'), { recursive: true });
        build(dir, { 'skills/a/SKILL.md': 'other\n' });
        const safety = await store.create({ reason: 'safety', trigger: 'restore' });
        await restoreThroughEngine(
          dir,
          `thostile${many ? 'many' : 'few'}`,
          safety.id,
          await store.planRestore(snapshot.id),
        );
        assert.deepEqual(listing(dir), before);
        assert.equal(fs.existsSync('/tmp/pwned'), false);
      } finally {
        store.close();
      }
    });
  }
});

void describe('what a snapshot holds', () => {
  void it('builds the same tree ids as git itself (sorting, modes, symlinks) and ignores .gitignore', async () => {
    const dir = tempDir();
    const spec = { ...BASE };
    delete spec['skills/pdf/empty'];
    delete spec['top-empty'];
    build(dir, spec);
    const store = await open(dir);
    try {
      const snapshot = await store.create({ reason: 'x', trigger: 'user' });
      const other = tempDir();
      const env = { ...process.env, GIT_DIR: path.join(other, 'repo.git'), GIT_WORK_TREE: dir };
      execFileSync('git', ['init', '-q', '--bare', path.join(other, 'repo.git')]);
      execFileSync('git', ['-c', 'core.autocrlf=false', 'add', '-A', '-f', '--', '.', `:!${STATE}`], {
        env,
        cwd: dir,
      });
      const gitTree = execFileSync('git', ['write-tree'], { env, encoding: 'utf8' }).trim();
      assert.equal(snapshot.tree, gitTree);
      const tree = await store.readTree(snapshot.id);
      assert.ok(tree.has('skills/pdf/SKILL.md'), '.gitignore inside the collection hides nothing');
      assert.ok(tree.has('.gitignore'));
      assert.equal(tree.get('commands/link.md')?.kind, 'symlink');
      assert.equal(tree.get('skills/pdf/scripts/run.sh')?.mode, '100755');
      assert.equal(
        (await store.readBlob(tree.get('agents/dir-link')?.sha ?? '')).toString(),
        '../skills/pdf',
      );
    } finally {
      store.close();
    }
  });

  void it('keeps empty folders as empty-tree entries', async () => {
    const dir = tempDir();
    build(dir, { 'a/b/c': null, 'd/e.md': 'e\n' });
    const store = await open(dir);
    try {
      const tree = await store.readTree((await store.create({ reason: 'x', trigger: 'user' })).id);
      assert.deepEqual(tree.get('a/b/c'), { mode: '040000', sha: EMPTY_TREE, kind: 'dir' });
      assert.equal(tree.has('a/b'), false, 'only empty folders are listed');
    } finally {
      store.close();
    }
    const empty = await open(tempDir());
    try {
      assert.equal((await empty.create({ reason: 'empty', trigger: 'user' })).tree, EMPTY_TREE);
    } finally {
      empty.close();
    }
  });

  void it('snapshots a nested repository’s files (never as a gitlink) and leaves its .git alone', async () => {
    const dir = tempDir();
    build(dir, BASE);
    const nested = path.join(dir, 'skills/pdf');
    git(nested, 'init', '-q');
    git(nested, 'add', '-A');
    git(nested, 'commit', '-q', '-m', 'nested');
    const nestedHead = git(nested, 'rev-parse', 'HEAD');
    const store = await open(dir);
    try {
      const before = listing(dir);
      const snapshot = await store.create({ reason: 'x', trigger: 'user' });
      const tree = await store.readTree(snapshot.id);
      assert.ok(tree.has('skills/pdf/SKILL.md'));
      assert.ok(![...tree.keys()].some((rel) => rel.split('/').includes('.git')));
      const modes = execFileSync('git', ['--git-dir', store.gitDir, 'ls-tree', '-r', snapshot.tree], {
        encoding: 'utf8',
      });
      assert.ok(!modes.includes('160000'), 'no gitlinks');

      // Restoring a snapshot from before the nested repo's folder existed must not delete its .git.
      fs.writeFileSync(path.join(nested, 'SKILL.md'), 'edited in nested repo\n');
      fs.rmSync(path.join(nested, 'ref'), { recursive: true });
      await applyLocally(dir, await store.planRestore(snapshot.id));
      assert.deepEqual(listing(dir), before);
      assert.equal(git(nested, 'rev-parse', 'HEAD'), nestedHead);
      assert.equal(git(nested, 'status', '--porcelain'), '');

      // A folder that did not exist in the snapshot but now holds a repository: its files go, the folder
      // and its .git stay.
      const later = path.join(dir, 'skills/late-repo');
      build(later, { 'SKILL.md': 'late\n', 'sub/x.md': 'x\n' });
      git(later, 'init', '-q');
      const changes = await store.planRestore(snapshot.id);
      assert.ok(
        !changes.some((c) => c.kind === 'rmdir' && (c.rel === 'skills/late-repo' || c.rel === 'skills')),
      );
      await applyLocally(dir, changes);
      assert.ok(fs.existsSync(path.join(later, '.git', 'HEAD')));
      assert.deepEqual(fs.readdirSync(later), ['.git']);
    } finally {
      store.close();
    }
  });

  void it('works when the collection is itself a git work tree, leaving its repository untouched', async () => {
    const dir = tempDir();
    build(dir, BASE);
    git(dir, 'init', '-q');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'outer');
    const head = git(dir, 'rev-parse', 'HEAD');
    const store = await open(dir);
    try {
      const before = listing(dir);
      const snapshot = await store.create({ reason: 'x', trigger: 'user' });
      assert.equal(
        git(dir, 'status', '--porcelain'),
        '',
        '.artifact-keeper is ignored by its own .gitignore',
      );
      assert.ok(![...(await store.readTree(snapshot.id)).keys()].some((rel) => rel.startsWith('.git/')));
      fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'edit\n');
      fs.rmSync(path.join(dir, 'agents'), { recursive: true });
      await applyLocally(dir, await store.planRestore('latest'));
      assert.deepEqual(listing(dir), before);
      assert.equal(git(dir, 'rev-parse', 'HEAD'), head);
      assert.equal(git(dir, 'status', '--porcelain'), '');
    } finally {
      store.close();
    }
  });

  void it('is not fooled by a user config with autocrlf and hooks', async () => {
    const dir = tempDir();
    const home = tempDir();
    fs.mkdirSync(path.join(home, 'hooks'));
    fs.writeFileSync(
      path.join(home, 'hooks', 'reference-transaction'),
      '#!/bin/sh\ntouch "$HOME/hook-ran"\n',
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(home, '.gitconfig'),
      `[core]\n\tautocrlf = true\n\thooksPath = ${path.join(home, 'hooks')}\n[gc]\n\tauto = 1\n`,
    );
    build(dir, { 'crlf.md': 'one\r\ntwo\r\n', 'lf.md': 'one\ntwo\n' });
    const store = await open(dir, { git: { env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home } } });
    try {
      const snapshot = await store.create({ reason: 'x', trigger: 'user' });
      const tree = await store.readTree(snapshot.id);
      assert.equal((await store.readBlob(tree.get('crlf.md')?.sha ?? '')).toString(), 'one\r\ntwo\r\n');
      assert.equal((await store.readBlob(tree.get('lf.md')?.sha ?? '')).toString(), 'one\ntwo\n');
      assert.equal(fs.existsSync(path.join(home, 'hook-ran')), false);
    } finally {
      store.close();
    }
  });
});

void describe('incremental snapshots', () => {
  void it('a stat index read ahead (loadIndexAhead) is looked at again by the snapshot, which reads the file anew once it changed', async () => {
    const dir = tempDir();
    const store = await openAged(dir, BASE);
    try {
      await store.create({ reason: 'first', trigger: 'user' });
      startTrace();
      const before = traceReport()?.phases.length ?? 0;
      store.loadIndexAhead();
      await store.create({ reason: 'second', trigger: 'user' });
      const loads = (traceReport()?.phases ?? [])
        .slice(before)
        .filter((p) => p.name === 'load the stat index');
      assert.equal(loads.length, 2, 'read ahead, then looked at by the snapshot');
      assert.equal(store.lastScan?.hashed, 0, 'the snapshot went through the index read ahead');
      // Read ahead again, then the file changes (another process wrote it, or tore it): the snapshot
      // reads the file as it is now, not the copy read ahead.
      store.loadIndexAhead();
      const indexFile = path.join(dir, STATE, 'snapshot-index.json');
      fs.writeFileSync(indexFile, '{"torn":');
      await store.create({ reason: 'third', trigger: 'user' });
      assert.equal(store.lastScan?.hashed, store.lastScan?.files, 'no index: every file hashed');
    } finally {
      store.close();
    }
  });

  void it('hashes only the changed file, and a no-change snapshot reuses the tree', async () => {
    const dir = tempDir();
    const store = await openAged(dir, BASE);
    try {
      const first = await store.create({ reason: 'first', trigger: 'user' });
      assert.equal(store.lastScan?.hashed, store.lastScan?.files);
      fs.writeFileSync(path.join(dir, 'skills/pdf/SKILL.md'), 'one change\n');
      const second = await store.create({ reason: 'second', trigger: 'update' });
      assert.equal(store.lastScan?.hashed, 1);
      assert.notEqual(second.tree, first.tree);
      assert.equal(store.lastScan?.readdirs, 0, 'an edit in place lists no folder again');
      const index = JSON.parse(fs.readFileSync(path.join(dir, STATE, 'snapshot-index.json'), 'utf8')) as {
        files: { rel: string[] };
      };
      assert.ok(index.files.rel.includes('skills/pdf/SKILL.md'), 'the stat index lists the file');
      // One re-hashed file left the index as the first snapshot wrote it: the edited file is re-hashed
      // once more, and the folders on its way are built again, with the same ids.
      const third = await store.create({ reason: 'third', trigger: 'user' });
      assert.equal(third.tree, second.tree);
      assert.notEqual(third.id, second.id);
      assert.ok(store.lastScan !== undefined && store.lastScan.hashed <= 1);
      assert.equal(store.lastScan?.treesWritten, 3, 'skills/pdf, skills and the root');
    } finally {
      store.close();
    }
  });

  void it('notices an edit that keeps size and mtime (ctime and the racy rule)', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'aaaa\n', 'b.md': 'bbbb\n' });
    await sleep(RACY_WINDOW_MS + 100);
    const store = await open(dir);
    try {
      const first = await store.create({ reason: 'x', trigger: 'user' });
      const file = path.join(dir, 'a.md');
      const st = fs.statSync(file);
      fs.writeFileSync(file, 'AAAA\n');
      fs.utimesSync(file, st.atime, st.mtime);
      const second = await store.create({ reason: 'y', trigger: 'user' });
      assert.notEqual(second.tree, first.tree);
      const blob = await store.readBlob((await store.readTree(second.id)).get('a.md')?.sha ?? '');
      assert.equal(blob.toString(), 'AAAA\n');
    } finally {
      store.close();
    }
  });

  void it('lists only folders whose entries changed, and is not fooled by a folder mtime set back', async () => {
    const dir = tempDir();
    const store = await openAged(dir, { 'a/one.md': '1\n', 'b/two.md': '2\n', 'b/deep/three.md': '3\n' });
    try {
      await store.create({ reason: 'x', trigger: 'user' });
      assert.equal(store.lastScan?.readdirs, 4, 'the first snapshot lists every folder');
      const folder = path.join(dir, 'b/deep');
      const st = fs.statSync(folder);
      fs.writeFileSync(path.join(folder, 'new.md'), 'new\n');
      fs.utimesSync(folder, st.atime, st.mtime);
      const info = await store.create({ reason: 'y', trigger: 'user' });
      assert.equal(store.lastScan?.readdirs, 1, 'only the changed folder is listed (its ctime moved)');
      assert.ok((await store.readTree(info.id)).has('b/deep/new.md'));
      fs.rmSync(path.join(dir, 'a'), { recursive: true });
      const third = await store.create({ reason: 'z', trigger: 'user' });
      assert.equal((await store.readTree(third.id)).has('a/one.md'), false);
    } finally {
      store.close();
    }
  });

  void it('keeps the stat index after a small change, and still sees every later hand edit', async () => {
    const dir = tempDir();
    const store = await openAged(dir, {
      'a.md': 'aaaa\n',
      'b.md': 'bbbb\n',
      'sub/c.md': 'cccc\n',
      'sub/d.md': 'dddd\n',
    });
    const indexFile = path.join(dir, STATE, 'snapshot-index.json');
    const content = async (id: string, rel: string): Promise<string> =>
      (await store.readBlob((await store.readTree(id)).get(rel)?.sha ?? '')).toString();
    try {
      await store.create({ reason: 'first', trigger: 'user' });
      const written = fs.readFileSync(indexFile);
      // As a transaction of ours would: a file rewritten whole.
      fs.writeFileSync(path.join(dir, 'a.md'), 'AAAA changed by an update\n');
      const second = await store.create({ reason: 'before the next update', trigger: 'update' });
      assert.equal(store.lastScan?.hashed, 1);
      assert.deepEqual(fs.readFileSync(indexFile), written, 'one re-hashed file leaves the index as it was');
      assert.equal(await content(second.id, 'a.md'), 'AAAA changed by an update\n');
      // Between two updates, by hand: an edit in place that keeps the size and puts the mtime back (only
      // ctime moves), in a folder whose listing does not change.
      const edited = path.join(dir, 'sub/c.md');
      const st = fs.statSync(edited);
      fs.writeFileSync(edited, 'CCCC\n');
      fs.utimesSync(edited, st.atime, st.mtime);
      const third = await store.create({ reason: 'before the update after', trigger: 'update' });
      assert.equal(await content(third.id, 'sub/c.md'), 'CCCC\n', 'the hand edit is in the snapshot');
      assert.equal(await content(third.id, 'a.md'), 'AAAA changed by an update\n');
      assert.equal(store.lastScan?.hashed, 2, 'the file changed since the index was written, and the edit');
      // A new file and a removed one, by hand.
      fs.writeFileSync(path.join(dir, 'sub/new.md'), 'new\n');
      fs.rmSync(path.join(dir, 'b.md'));
      const fourth = await store.create({ reason: 'and again', trigger: 'update' });
      const tree = await store.readTree(fourth.id);
      assert.equal(await content(fourth.id, 'sub/new.md'), 'new\n');
      assert.equal(tree.has('b.md'), false);
      assert.deepEqual(
        [...tree.keys()].sort(),
        ['a.md', 'sub/c.md', 'sub/d.md', 'sub/new.md'],
        'exactly the files on disk',
      );
    } finally {
      store.close();
    }
  });

  void it('rewrites the stat index once many files changed', async () => {
    const dir = tempDir();
    const spec: Spec = {};
    for (let i = 0; i < 80; i++) spec[`f${i}.md`] = `${i}\n`;
    const store = await openAged(dir, spec);
    const indexFile = path.join(dir, STATE, 'snapshot-index.json');
    try {
      await store.create({ reason: 'first', trigger: 'user' });
      const written = fs.readFileSync(indexFile);
      for (let i = 0; i < 80; i++) fs.writeFileSync(path.join(dir, `f${i}.md`), `changed ${i}\n`);
      await sleep(RACY_WINDOW_MS + 100);
      await store.create({ reason: 'second', trigger: 'user' });
      assert.equal(store.lastScan?.hashed, 80);
      assert.notDeepEqual(fs.readFileSync(indexFile), written, 'the index was rewritten');
      await store.create({ reason: 'third', trigger: 'user' });
      assert.equal(store.lastScan?.hashed, 0, 'and spares the next scan every re-hash');
    } finally {
      store.close();
    }
  });

  void it('through a trusted stat index, gives the tree a scan without one gives, whatever changed types', async () => {
    // Folders and files of a small tree, then edits that change what a path is: a folder made a symlink
    // to itself moved away (a path through it would still lstat), a file made a folder and the reverse,
    // removals, new folders two deep, edits in place. The index is aged at once (its time set ahead), so
    // every stamp it holds is trusted and only what moved is looked at again.
    const names = ['a', 'b', 'c'];
    const relArb = fc
      .array(fc.constantFrom(...names), { minLength: 1, maxLength: 3 })
      .map((p) => p.join('/'));
    const opArb = fc.tuple(
      fc.constantFrom('edit', 'remove', 'link-moved', 'file-to-folder', 'folder-to-file', 'new-deep'),
      relArb,
    );
    const outside = tempDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(relArb, { minLength: 1, maxLength: 8 }),
        fc.array(opArb, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (files, ops, parallelStat) => {
          const dir = tempDir();
          for (const rel of files) {
            const abs = path.join(dir, rel);
            if (files.some((other) => other.startsWith(`${rel}/`))) continue; // a folder of another
            fs.mkdirSync(path.dirname(abs), { recursive: true });
            fs.writeFileSync(abs, `${rel}\n`);
          }
          const store = await open(dir, { parallelStat });
          try {
            await store.create({ reason: 'first', trigger: 'user' });
            const indexFile = path.join(dir, STATE, 'snapshot-index.json');
            const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { writtenAt: number };
            index.writtenAt = Date.now() + 60_000;
            fs.writeFileSync(indexFile, JSON.stringify(index));
            for (const [op, rel] of ops) {
              const abs = path.join(dir, rel);
              let st: fs.Stats | undefined;
              try {
                st = fs.lstatSync(abs);
              } catch {
                continue; // not there, or under a file
              }
              if (op === 'edit' && st?.isFile()) fs.writeFileSync(abs, `${rel} edited\n`);
              else if (op === 'remove' && st) fs.rmSync(abs, { recursive: true });
              else if (op === 'link-moved' && st?.isDirectory()) {
                const moved = path.join(outside, `moved-${run++}`);
                fs.renameSync(abs, moved);
                fs.symlinkSync(moved, abs);
              } else if (op === 'file-to-folder' && st?.isFile()) {
                fs.rmSync(abs);
                fs.mkdirSync(abs);
                fs.writeFileSync(path.join(abs, 'inner.md'), 'inner\n');
              } else if (op === 'folder-to-file' && st?.isDirectory()) {
                fs.rmSync(abs, { recursive: true });
                fs.writeFileSync(abs, 'was a folder\n');
              } else if (op === 'new-deep' && st?.isDirectory()) {
                fs.mkdirSync(path.join(abs, 'x/y'), { recursive: true });
                fs.writeFileSync(path.join(abs, 'x/y/deep.md'), 'deep\n');
              }
            }
            const through = await store.create({ reason: 'through the index', trigger: 'user' });
            const found = store.lastScan?.files;
            fs.rmSync(indexFile);
            const whole = await store.create({ reason: 'without it', trigger: 'user' });
            assert.equal(store.lastScan?.hashed, store.lastScan?.files, 'the second scan hashed everything');
            const seen = JSON.stringify({ files, ops });
            assert.equal(through.tree, whole.tree, seen);
            assert.equal(found, store.lastScan?.files, `no file seen through a symlink: ${seen}`);
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  void it('misses nothing through a stat index that lacks a folder its files are in', async () => {
    const dir = tempDir();
    build(dir, { 'a/b/one.md': '1\n', 'a/b/c/two.md': '2\n', 'a/three.md': '3\n' });
    const store = await open(dir);
    try {
      const first = await store.create({ reason: 'first', trigger: 'user' });
      // The index as no snapshot writes it: `a/b/c` gone from its folders, its file still listed; and
      // aged, so every stamp it still holds is trusted. Nothing in `a/b` changes, so only a look at the
      // folder the index lacks finds what was added there.
      const indexFile = path.join(dir, STATE, 'snapshot-index.json');
      const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as {
        writtenAt: number;
        dirs: Record<'rel' | 'mtime' | 'ctime' | 'ino' | 'tree', unknown[]>;
      };
      const at = index.dirs.rel.indexOf('a/b/c');
      assert.ok(at >= 0);
      for (const column of Object.values(index.dirs)) column.splice(at, 1);
      index.writtenAt = Date.now() + 60_000;
      fs.writeFileSync(indexFile, JSON.stringify(index));
      fs.writeFileSync(path.join(dir, 'a/b/c/new.md'), 'new\n');
      const second = await store.create({ reason: 'second', trigger: 'user' });
      assert.deepEqual([...(await store.readTree(second.id)).keys()].sort(), [
        'a/b/c/new.md',
        'a/b/c/two.md',
        'a/b/one.md',
        'a/three.md',
      ]);
      assert.notEqual(second.tree, first.tree);
    } finally {
      store.close();
    }
  });

  void it('never trusts an index written for a repository that was since recreated', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n' });
    await sleep(RACY_WINDOW_MS + 100);
    let store = await open(dir);
    await store.create({ reason: 'x', trigger: 'user' });
    store.close();
    fs.rmSync(path.join(dir, STATE, 'snapshots.git'), { recursive: true });
    store = await open(dir);
    try {
      const info = await store.create({ reason: 'y', trigger: 'user' });
      assert.equal(store.lastScan?.hashed, 1);
      assert.equal(
        (await store.readBlob((await store.readTree(info.id)).get('a.md')?.sha ?? '')).toString(),
        'a\n',
      );
    } finally {
      store.close();
    }
  });
});

void describe('listing, resolving, pinning and retention', () => {
  void it('lists newest first with metadata, and resolves latest / ids / prefixes', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n' });
    const store = await open(dir);
    try {
      assert.deepEqual(await store.list(), []);
      await rejectsWith(store.resolve('latest'), 'snapshot-not-found');
      const a = await store.create({ reason: 'first', trigger: 'user', artifacts: ['skill/a'], txId: 't1' });
      const b = await store.create({ reason: 'second\nline', trigger: 'update', pinned: true });
      const all = await store.list();
      assert.deepEqual(
        all.map((s) => s.id),
        [b.id, a.id],
      );
      assert.match(a.id, /^s[0-9a-z]{12}$/);
      assert.ok(a.id < b.id, 'ids sort by time');
      assert.deepEqual(
        {
          reason: all[1]?.reason,
          trigger: all[1]?.trigger,
          artifacts: all[1]?.artifacts,
          txId: all[1]?.txId,
        },
        { reason: 'first', trigger: 'user', artifacts: ['skill/a'], txId: 't1' },
      );
      assert.equal(all[0]?.pinned, true);
      assert.equal(all[0]?.tool, 'artifact-keeper test');
      assert.equal((await store.resolve('latest')).id, b.id);
      assert.equal((await store.resolve(a.id.slice(0, -1))).id, a.id);
      await rejectsWith(store.resolve('s'), 'snapshot-not-found'); // ambiguous
      await rejectsWith(store.resolve('--upload-pack=evil'), 'snapshot-not-found');
      const commit = execFileSync(
        'git',
        ['--git-dir', store.gitDir, 'log', '-1', '--format=%an <%ae>|%P', b.commit],
        {
          encoding: 'utf8',
        },
      ).trim();
      assert.equal(
        commit,
        'Artifact Keeper <artifact-keeper@localhost>|',
        'fixed identity; a root commit, so pruning frees it',
      );
    } finally {
      store.close();
    }
  });

  void it('lists what git lists, loose and packed, with no git process: a lock file, a foreign commit and a foreign name change nothing', async () => {
    const { dir, store, gitRuns } = await openCounting();
    const gitDir = store.gitDir;
    // What git itself says: every ref under refs/snapshots/ whose commit carries snapshot metadata.
    const byGit = (): string[] =>
      git(
        dir,
        '--git-dir',
        gitDir,
        'for-each-ref',
        '--format=%(refname:lstrip=2) %(objectname) %(tree)',
        'refs/snapshots/',
      )
        .split('\n')
        .filter((line) => line && !line.startsWith('s000000000'))
        .reverse();
    const listed = async (): Promise<string[]> =>
      (await store.list()).map((s) => `${s.id} ${s.commit} ${s.tree}`);
    try {
      const a = await store.create({ reason: 'first', trigger: 'user' });
      fs.writeFileSync(path.join(dir, 'a.md'), 'b\n');
      const b = await store.create({ reason: 'second', trigger: 'user', pinned: true });
      git(dir, '--git-dir', gitDir, 'pack-refs', '--all', '--prune');
      assert.equal(fs.existsSync(path.join(gitDir, 'refs/snapshots', a.id)), false, 'packed now');
      fs.writeFileSync(path.join(dir, 'a.md'), 'c\n');
      const c = await store.create({ reason: 'third', trigger: 'user' });
      fs.writeFileSync(path.join(gitDir, 'refs/snapshots', `${c.id}x.lock`), '');
      // A ref named as ours whose commit is not a snapshot: git lists it, we ignore it, both ways.
      git(dir, '--git-dir', gitDir, 'update-ref', 'refs/snapshots/s000000000abc', a.commit);
      const listings = (): number => gitRuns('for-each-ref');
      assert.deepEqual(await listed(), byGit());
      assert.deepEqual(
        (await store.list()).map((s) => [s.id, s.pinned]),
        [
          [c.id, false],
          [b.id, true],
          [a.id, false],
        ],
      );
      assert.equal(listings(), 0, 'listed without a for-each-ref');
      // A name that is not one of ours: listed by git, to the same effect.
      git(dir, '--git-dir', gitDir, 'update-ref', 'refs/snapshots/not-ours', a.commit);
      assert.deepEqual(
        await listed(),
        byGit().filter((line) => !line.startsWith('not-ours')),
      );
      assert.equal(listings(), 1, 'listed by git');
    } finally {
      store.close();
    }
  });

  void it('leaves out, with a warning, a ref that points at no commit in the store', async () => {
    const dir = await collectionWithASnapshot();
    const warnings: string[] = [];
    const store = await open(dir, { logger: { ...silentLogger, warn: (m: string) => warnings.push(m) } });
    try {
      const [only] = await store.list();
      const gitDir = store.gitDir;
      fs.writeFileSync(path.join(gitDir, 'refs/snapshots/s000000000gone'), `${'0123456789'.repeat(4)}\n`);
      fs.writeFileSync(path.join(gitDir, 'refs/snapshots/s000000000tree'), `${only?.tree ?? ''}\n`);
      assert.deepEqual(
        (await store.list()).map((s) => s.id),
        [only?.id],
      );
      assert.deepEqual(warnings.sort(), [
        '[Snapshots] ignoring refs/snapshots/s000000000gone: it does not point at a commit in the store',
        '[Snapshots] ignoring refs/snapshots/s000000000tree: it does not point at a commit in the store',
      ]);
    } finally {
      store.close();
    }
  });

  void it('a store left open holds no process once its answers are in, and holds it while one is awaited', async () => {
    const dir = await collectionWithASnapshot();
    const modules = path.resolve(__dirname, '../../src/core');
    // Nothing awaits the listing at the top level: only the pending read keeps the process alive until
    // it prints; after that the open reader (never closed) must not keep it.
    const script = `
      const { openSnapshotStore } = await import(${JSON.stringify(`${modules}/store/snapshots.js`)});
      const { nodeFs } = await import(${JSON.stringify(`${modules}/ports/fs.js`)});
      const { silentLogger } = await import(${JSON.stringify(`${modules}/base/changes.js`)});
      const store = await openSnapshotStore(${JSON.stringify(dir)}, { fs: nodeFs, logger: silentLogger });
      void store.list().then((all) => console.log('listed ' + all.length));
    `;
    const started = Date.now();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(run.status, 0, `${run.stderr} (signal ${String(run.signal)})`);
    assert.equal(run.stdout.trim(), 'listed 1');
    assert.ok(Date.now() - started < 20_000);
  });

  void it('keeps the newest N, the young, the newest and the pinned; gc removes what only pruned ones held', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'v0\n' });
    const store = await open(dir);
    try {
      const made = [];
      for (let i = 1; i <= 6; i++) {
        fs.writeFileSync(path.join(dir, 'a.md'), `version ${i} with unique bytes\n`);
        made.push(await store.create({ reason: `v${i}`, trigger: 'user' }));
      }
      const ids = made.map((s) => s.id);
      const onlyInFirst = (await store.readTree(ids[0] as string)).get('a.md')?.sha as string;
      await store.setPinned(ids[1] as string, true);

      assert.deepEqual(await store.prune({ keep: 2, maxAgeDays: 30 }), [], 'all are younger than 30 days');
      const later = new Date(Date.now() + 31 * 86_400_000);
      const removed = await store.prune({ keep: 2, maxAgeDays: 30, now: later });
      assert.deepEqual(removed.sort(), [ids[0], ids[2], ids[3]].sort());
      assert.deepEqual(
        (await store.list()).map((s) => s.id),
        [ids[5], ids[4], ids[1]],
      );
      const exists = execFileSync('git', ['--git-dir', store.gitDir, 'cat-file', '--batch-check'], {
        input: `${onlyInFirst}\n`,
        encoding: 'utf8',
      });
      assert.match(exists, /missing/, 'gc pruned the blob only the removed snapshot held');

      assert.deepEqual((await store.prune({ keep: 0, maxAgeDays: 0, now: later })).sort(), [ids[4]]);
      assert.deepEqual(
        (await store.list()).map((s) => s.id),
        [ids[5], ids[1]],
        'the newest and the pinned survive keep=0',
      );
      await store.setPinned(ids[1] as string, false);
      assert.deepEqual(await store.prune({ keep: 0, maxAgeDays: 0, now: later }), [ids[1]]);
    } finally {
      store.close();
    }
  });

  void it('drops stat-index entries whose objects gc removed, so the next snapshot is whole', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n', 'sub/b.md': 'b\n' });
    const elsewhere = tempDir();
    build(elsewhere, { 'other.md': 'other\n' });
    await sleep(RACY_WINDOW_MS + 100);
    const store = await open(dir);
    try {
      await store.create({ reason: 'described by the stat index', trigger: 'user' });
      // A newer snapshot of other content, then retention removes the one the stat index describes.
      await store.createFromFolder(elsewhere, { reason: 'newer', trigger: 'import' });
      const later = new Date(Date.now() + 40 * 86_400_000);
      assert.equal((await store.prune({ keep: 1, maxAgeDays: 30, now: later })).length, 1);
      const next = await store.create({ reason: 'after gc', trigger: 'user' });
      assert.equal(store.lastScan?.hashed, 2, 'the pruned blobs were dropped from the index and re-hashed');
      const blob = await store.readBlob((await store.readTree(next.id)).get('sub/b.md')?.sha ?? '');
      assert.equal(blob.toString(), 'b\n');
      execFileSync('git', ['--git-dir', store.gitDir, 'fsck', '--no-dangling', '--strict'], {
        stdio: 'ignore',
      });
    } finally {
      store.close();
    }
  });

  void it('recovers from a stat index that points at missing objects', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n', 'sub/b.md': 'b\n' });
    await sleep(RACY_WINDOW_MS + 100);
    const store = await open(dir);
    try {
      await store.create({ reason: 'x', trigger: 'user' });
      const indexFile = path.join(dir, STATE, 'snapshot-index.json');
      const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as {
        files: { rel: string[]; sha: string[] };
      };
      index.files.sha[index.files.rel.indexOf('sub/b.md')] = '1'.repeat(40);
      // A new file beside it makes its folder's tree be rebuilt, with the bogus id in it.
      fs.writeFileSync(path.join(dir, 'sub/c.md'), 'c\n');
      fs.writeFileSync(indexFile, JSON.stringify(index));
      const next = await store.create({ reason: 'y', trigger: 'user' });
      const tree = await store.readTree(next.id);
      assert.equal((await store.readBlob(tree.get('sub/b.md')?.sha ?? '')).toString(), 'b\n');
      assert.equal((await store.readBlob(tree.get('sub/c.md')?.sha ?? '')).toString(), 'c\n');
      assert.equal(store.lastScan?.hashed, 3, 'fell back to hashing everything');
    } finally {
      store.close();
    }
  });
});

void describe('diffs', () => {
  void it('reports added, modified, deleted files and empty folders between snapshots and the working tree', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n', 'b.md': 'b\n', 'x.sh': { text: 'x', mode: 0o644 }, empty: null });
    const store = await open(dir);
    try {
      const a = await store.create({ reason: 'a', trigger: 'user' });
      fs.writeFileSync(path.join(dir, 'a.md'), 'changed\n');
      fs.unlinkSync(path.join(dir, 'b.md'));
      fs.writeFileSync(path.join(dir, 'c.md'), 'c\n');
      fs.chmodSync(path.join(dir, 'x.sh'), 0o755);
      fs.rmdirSync(path.join(dir, 'empty'));
      fs.mkdirSync(path.join(dir, 'new-empty'));
      const expected = [
        { rel: 'a.md', status: 'modified', kind: 'file' },
        { rel: 'b.md', status: 'deleted', kind: 'file' },
        { rel: 'c.md', status: 'added', kind: 'file' },
        { rel: 'empty', status: 'deleted', kind: 'dir' },
        { rel: 'new-empty', status: 'added', kind: 'dir' },
        { rel: 'x.sh', status: 'modified', kind: 'file' },
      ];
      assert.deepEqual(await store.diffSnapshots(a.id, 'working'), expected);
      const b = await store.create({ reason: 'b', trigger: 'user' });
      assert.deepEqual(await store.diffSnapshots(a.id, b.id), expected);
      assert.deepEqual(await store.diffSnapshots(b.id, 'working'), []);
    } finally {
      store.close();
    }
  });
});

void describe('upstream history', () => {
  void it('stores folders, single files and in-memory trees, and finds them by resolved sha', async () => {
    const dir = tempDir();
    const source = tempDir();
    build(source, {
      'SKILL.md': 'v1\n',
      'scripts/run.sh': { text: '#!/bin/sh\n', mode: 0o755 },
      '.git/config': 'x',
    });
    build(dir, { 'a.md': 'a\n' });
    const store = await open(dir);
    try {
      assert.equal(await store.readUpstream('skill', 'pdf', 'sha1'), undefined);
      const one = await store.storeUpstream('skill', 'pdf tools.v2', source, {
        resolved_sha: 'sha1',
        resolved_version: 'v1',
        source: 'https://x',
      });
      fs.writeFileSync(path.join(source, 'SKILL.md'), 'v2\n');
      const two = await store.storeUpstream('skill', 'pdf tools.v2', source, { resolved_sha: 'sha2' });
      assert.equal(
        (await store.storeUpstream('skill', 'pdf tools.v2', source, { resolved_sha: 'sha2' })).commit,
        two.commit,
        'storing the same content again is a no-op',
      );
      const v1 = await store.readUpstream('skill', 'pdf tools.v2', 'sha1');
      assert.deepEqual(
        [...(v1 ?? [])].map(([rel, f]) => [rel, f.data.toString(), f.mode]),
        [
          ['SKILL.md', 'v1\n', 0o644],
          ['scripts/run.sh', '#!/bin/sh\n', 0o755],
        ],
      );
      assert.equal(
        (await store.readUpstream('skill', 'pdf tools.v2'))?.get('SKILL.md')?.data.toString(),
        'v2\n',
      );
      const history = await store.listUpstream('skill', 'pdf tools.v2');
      assert.deepEqual(
        history.map((r) => r.commit),
        [two.commit, one.commit],
      );
      assert.equal(history[1]?.meta.resolved_version, 'v1');
      assert.equal(
        (await store.readUpstream('skill', 'pdf tools.v2', 'sha1', {}, 'https://x'))
          ?.get('SKILL.md')
          ?.data.toString(),
        'v1\n',
        'stored from that source',
      );
      assert.equal(
        await store.readUpstream('skill', 'pdf tools.v2', 'sha1', {}, 'https://y'),
        undefined,
        'not stored from another source',
      );
      assert.equal(
        await store.readUpstream('skill', 'pdf tools.v2', 'sha2', {}, 'https://x'),
        undefined,
        'stored without a source: not known to be from that one',
      );

      await store.storeUpstream('command', 'review', path.join(source, 'SKILL.md'), { resolved_sha: 'c1' });
      assert.deepEqual(
        [...((await store.readUpstream('command', 'review', 'c1')) ?? []).keys()],
        ['SKILL.md'],
      );
      const content = new Map([
        ['review.md', { data: Buffer.from('in memory\n'), mode: 0o644 }],
        ['link', { data: Buffer.from('review.md'), mode: 0o120000 }],
      ]);
      await store.storeUpstream('agent', 'café', content, { resolved_sha: 'm1' });
      assert.deepEqual(
        [...((await store.readUpstream('agent', 'café', 'm1')) ?? [])].map(([rel, f]) => [
          rel,
          f.data.toString(),
          f.mode,
        ]),
        [
          ['link', 'review.md', 0o120000],
          ['review.md', 'in memory\n', 0o644],
        ],
      );
      await assert.rejects(store.storeUpstream('nonsense', 'x', content, { resolved_sha: 'z' }), CoreError);
    } finally {
      store.close();
    }
  });

  void it('stores several artifacts, their refs moved together by no git process, the same artifact twice as two commits', async () => {
    const { store, gitRuns } = await openCounting();
    const file = (text: string): Map<string, { data: Buffer; mode: number }> =>
      new Map([['x.md', { data: Buffer.from(text), mode: 0o644 }]]);
    try {
      await store.storeUpstream('command', 'c', file('c0\n'), { resolved_sha: 'c0' });
      const before = gitRuns('update-ref');
      const records = await store.storeUpstreams([
        { type: 'command', name: 'c', content: file('c0\n'), meta: { resolved_sha: 'c0' } },
        { type: 'skill', name: 'a', content: file('a1\n'), meta: { resolved_sha: 'a1' } },
        { type: 'command', name: 'c', content: file('c1\n'), meta: { resolved_sha: 'c1' } },
        { type: 'skill', name: 'a', content: file('a2\n'), meta: { resolved_sha: 'a2' } },
        { type: 'command', name: 'c', content: file('c1\n'), meta: { resolved_sha: 'c1' } },
      ]);
      assert.equal(gitRuns('update-ref'), before, 'the refs are moved here, as git moves them');
      assert.equal(records[4]?.commit, records[2]?.commit, 'the same content and sha again: no new commit');
      const read = async (type: string, name: string, sha: string): Promise<string | undefined> =>
        (await store.readUpstream(type, name, sha))?.get('x.md')?.data.toString();
      assert.deepEqual(
        [
          await read('skill', 'a', 'a1'),
          await read('skill', 'a', 'a2'),
          await read('command', 'c', 'c0'),
          await read('command', 'c', 'c1'),
        ],
        ['a1\n', 'a2\n', 'c0\n', 'c1\n'],
      );
      assert.deepEqual(
        (await store.listUpstream('skill', 'a')).map((r) => r.meta.resolved_sha),
        ['a2', 'a1'],
      );
      assert.deepEqual(
        (await store.listUpstream('command', 'c')).map((r) => r.meta.resolved_sha),
        ['c1', 'c0'],
        'chained to what was stored before the call',
      );
      assert.ok((await store.list()).length === 0, 'upstream history never shows up as snapshots');
      // A lock left beside a ref: git is asked, and refuses in its own words; nothing moves.
      const lock = path.join(store.gitDir, 'refs/upstream/skill/a.lock');
      fs.writeFileSync(lock, '');
      const err = await coreErrorOf(store.storeUpstream('skill', 'a', file('a3\n'), { resolved_sha: 'a3' }));
      assert.equal(err.code, 'git-failed');
      assert.match(err.message, /lock/);
      assert.equal(gitRuns('update-ref'), before + 1, 'handed to git');
      fs.rmSync(lock);
      assert.deepEqual(
        (await store.listUpstream('skill', 'a')).map((r) => r.meta.resolved_sha),
        ['a2', 'a1'],
      );
    } finally {
      store.close();
    }
  });
});

void describe('upstream history', () => {
  void it('is read from its newest end only as far as needed, and a long one searched by git: a search costs at most 32 commits read', async () => {
    const { store } = await openCounting();
    const file = (text: string): Map<string, { data: Buffer; mode: number }> =>
      new Map([['x.md', { data: Buffer.from(text), mode: 0o644 }]]);
    startTrace();
    const commitsRead = (): number => traceReport()?.counts['history commit read'] ?? 0;
    const searches = (): number => traceReport()?.counts['history searched (git log)'] ?? 0;
    const reading = async <T>(
      work: () => Promise<T>,
    ): Promise<{ value: T; read: number; searched: number }> => {
      const [before, searchedBefore] = [commitsRead(), searches()];
      const value = await work();
      return { value, read: commitsRead() - before, searched: searches() - searchedBefore };
    };
    try {
      // The first version, then forty updates alternating between two more, as a person going back and forth would.
      await store.storeUpstream('skill', 'a', file('v0\n'), { resolved_sha: 'v0', source: 'https://x' });
      for (let i = 0; i < 40; i++) {
        const v = i % 2 === 0 ? 'v1' : 'v2';
        await store.storeUpstream('skill', 'a', file(`${v}\n`), { resolved_sha: v });
      }
      assert.equal((await store.listUpstream('skill', 'a')).length, 41, 'every update is a commit');
      const stored = await reading(() =>
        store.storeUpstream('skill', 'a', file('v1\n'), { resolved_sha: 'v1' }),
      );
      assert.equal(stored.read, 1, 'storing reads the head only');
      const newest = await reading(() => store.readUpstream('skill', 'a', 'v2'));
      assert.equal(newest.value?.get('x.md')?.data.toString(), 'v2\n');
      assert.ok(newest.read <= 2, `the version before the newest: ${newest.read} commits read`);
      const present = await reading(() => store.hasUpstream('skill', 'a', 'v1'));
      assert.deepEqual([present.value, present.read], [true, 1]);
      // Not stored: 32 commits are read, git searches the rest (one process), and the answer is still right.
      const absent = await reading(() => store.hasUpstream('skill', 'a', 'v3'));
      assert.deepEqual([absent.value, absent.read, absent.searched], [false, 32, 1]);
      // Stored before the newest 32: found by the search, the commit it names read, the same record a walk finds.
      const oldest = await reading(() => store.readUpstream('skill', 'a', 'v0', {}, 'https://x'));
      assert.equal(oldest.value?.get('x.md')?.data.toString(), 'v0\n');
      assert.deepEqual([oldest.read, oldest.searched], [32, 1]);
      const walked = (await store.listUpstream('skill', 'a')).find((r) => r.meta.resolved_sha === 'v0');
      assert.equal((await reading(() => store.hasUpstream('skill', 'a', 'v0'))).value, walked !== undefined);
      assert.equal(await store.hasUpstream('skill', 'a', 'v0', 'https://y'), false, 'another source, deep');
      assert.equal(await store.hasUpstream('skill', 'a', 'v1', 'another source'), false);
      assert.equal(await store.hasUpstream('skill', 'never-stored', 'v1'), false);
    } finally {
      store.close();
    }
  });
});

void describe('failures', () => {
  void it('a snapshot after one change starts no git process; any of its writes failing leaves no snapshot and no temp', async () => {
    const dir = await collectionWithASnapshot();
    // Enumerate the writes of one snapshot, then fail each in turn.
    const gitProbe = new FaultPlan([]);
    const fsProbe = new FaultPlan([]);
    const counting = await open(dir, { git: { fault: gitProbe }, fs: withFaults(nodeFs, fsProbe) });
    fs.writeFileSync(path.join(dir, 'a.md'), 'probe\n');
    await counting.create({ reason: 'probe', trigger: 'user' });
    counting.close();
    assert.deepEqual(gitProbe.calls, [], 'objects and the ref are written by this process');
    const writes = fsProbe.calls.filter((c) => c.op !== 'readFile');
    const objectsDir = path.join(dir, STATE, 'snapshots.git', 'objects');
    assert.ok(
      writes.some((c) => c.op === 'rename' && c.path.startsWith(objectsDir)) &&
        writes.some((c) => c.op === 'rename' && c.path.includes('refs/snapshots/')),
      `objects and the ref are written through the Fs port: ${writes.map((c) => c.op).join(', ')}`,
    );
    const before = (await (await open(dir)).list()).length;
    const ops = [...new Set(writes.map((c) => c.op))];
    for (const op of ops) {
      const count = writes.filter((c) => c.op === op).length;
      for (let nth = 1; nth <= count; nth++) {
        const store = await open(dir, {
          fs: withFaults(nodeFs, new FaultPlan([{ op: op as 'rename', nth, errno: 'EIO' }])),
        });
        try {
          fs.writeFileSync(path.join(dir, 'a.md'), `attempt ${op} ${nth}\n`);
          await rejectsWith(store.create({ reason: 'y', trigger: 'user' }), 'io-failed');
          assert.equal((await store.list()).length, before, `fault at ${op} ${nth}`);
        } finally {
          store.close();
        }
        const temps = execFileSync('find', [
          path.join(dir, STATE),
          '-name',
          'tmp_obj_*',
          '-o',
          '-name',
          '*.lock',
        ])
          .toString()
          .trim();
        assert.equal(temps, '', `no temp object or ref lock after a fault at ${op} ${nth}`);
      }
    }
    const after = await open(dir);
    try {
      fs.writeFileSync(path.join(dir, 'a.md'), 'after the faults\n');
      const info = await after.create({ reason: 'z', trigger: 'user' });
      const tree = await after.readTree(info.id);
      assert.equal((await after.readBlob(tree.get('a.md')?.sha ?? '')).toString(), 'after the faults\n');
    } finally {
      after.close();
    }
    execFileSync('git', [
      '--git-dir',
      path.join(dir, STATE, 'snapshots.git'),
      'fsck',
      '--strict',
      '--no-dangling',
    ]);
  });

  void it('a failing git call, whichever it is, leaves no snapshot behind (objects written by git)', async () => {
    const dir = await collectionWithASnapshot();
    // A repository that borrows objects (alternates) has its objects written by git; reftable refs too.
    const gitDir = path.join(dir, STATE, 'snapshots.git');
    const other = path.join(tempDir(), 'other.git');
    execFileSync('git', ['init', '-q', '--bare', other]);
    fs.writeFileSync(path.join(gitDir, 'objects/info/alternates'), `${path.join(other, 'objects')}\n`);
    const probe = new FaultPlan([]);
    const counting = await open(dir, { git: { fault: probe } });
    fs.writeFileSync(path.join(dir, 'a.md'), 'probe\n');
    await counting.create({ reason: 'probe', trigger: 'user' });
    counting.close();
    assert.deepEqual(
      probe.calls.map((c) => c.path.split(' ')[0]),
      ['unpack-objects'],
      'one process writes every object; the ref is written here',
    );
    const before = (await (await open(dir)).list()).length;
    for (let nth = 1; nth <= probe.calls.length; nth++) {
      const fault = new FaultPlan([{ op: 'git', nth, errno: 'EIO' }]);
      const store = await open(dir, { git: { fault } });
      try {
        fs.writeFileSync(path.join(dir, 'a.md'), `attempt ${nth}\n`);
        await rejectsWith(store.create({ reason: 'y', trigger: 'user' }), 'git-failed');
        assert.equal((await store.list()).length, before, `fault at git call ${nth}`);
      } finally {
        store.close();
      }
    }
  });

  void it('fails with io-failed and no new snapshot when the stat index cannot be written, leaving no temp', async () => {
    for (const rule of [
      { op: 'writeFile' as const, nth: 1, errno: 'ENOSPC', pathIncludes: 'snapshot-index' },
      { op: 'rename' as const, nth: 1, errno: 'EXDEV', pathIncludes: 'snapshot-index' },
    ]) {
      const dir = tempDir();
      build(dir, { 'a.md': 'a\n' });
      const store = await open(dir, { fs: withFaults(nodeFs, new FaultPlan([rule])) });
      try {
        const err = await rejectsWith(store.create({ reason: 'x', trigger: 'user' }), 'io-failed');
        assert.match(err.message, new RegExp(rule.errno));
        assert.deepEqual(await store.list(), [], rule.op);
        assert.deepEqual(
          fs.readdirSync(path.join(dir, STATE)).sort(),
          ['.gitignore', 'snapshots.git'],
          rule.op,
        );
        // The fault fired once; the next attempt works.
        assert.ok((await store.create({ reason: 'y', trigger: 'user' })).id);
      } finally {
        store.close();
      }
    }
  });

  void it('reports a failing Fs call while creating the store as io-failed', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n' });
    const fault = new FaultPlan([{ op: 'mkdir', nth: 1, errno: 'EACCES' }]);
    const store = await open(dir, { fs: withFaults(nodeFs, fault) });
    try {
      const err = await rejectsWith(store.create({ reason: 'x', trigger: 'user' }), 'io-failed');
      assert.match(err.message, /EACCES/);
      assert.deepEqual(fs.readdirSync(dir), ['a.md']);
    } finally {
      store.close();
    }
  });

  void it('refuses a missing collection folder', async () => {
    await rejectsWith(open(path.join(tempDir(), 'nope')), 'io-failed');
  });

  void it('refuses an unknown snapshot in planRestore without writing', async () => {
    const dir = tempDir();
    build(dir, { 'a.md': 'a\n' });
    const store = await open(dir);
    try {
      await rejectsWith(store.planRestore('sdoesnotexist'), 'snapshot-not-found');
    } finally {
      store.close();
    }
  });
});

void describe('names that are not UTF-8, and awkward UTF-8 names', () => {
  /** Raw bytes in a name are written as the escaped string form (U+DC80–U+DCFF), as the core holds them. */
  const RAW = {
    file: 'skills/pdf/bad\uDCFF\uDCFE.md',
    dir: 'skills/raw\uDC80',
    inDir: 'skills/raw\uDC80/inside\uDCC0.md',
    empty: 'skills/empty\uDCFE',
    link: 'skills/pdf/link\uDCFF',
  };
  const AWKWARD = [
    'skills/pdf/new\nline.md',
    'skills/pdf/tab\there.md',
    'skills/pdf/cr\rinside.md',
    'skills/pdf/trailing-cr\r',
    'skills/pdf/back\\slash.md',
    'skills/pdf/-leading-dash.md',
    'skills/pdf/--',
    'skills/pdf/"quoted".md',
    'skills/pdf/real\uFFFD.md',
    'skills/back\\slash dir/x.md',
  ];

  function buildAwkward(dir: string): void {
    build(dir, { 'collection.toml': '[collection]\nname = "t"\n', 'skills/pdf/SKILL.md': 'skill\n' });
    for (const rel of AWKWARD) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), `${rel}\n`);
    }
    fs.writeFileSync(nameBytes(path.join(dir, RAW.file)), 'raw name\n');
    fs.mkdirSync(nameBytes(path.join(dir, RAW.dir)));
    fs.writeFileSync(nameBytes(path.join(dir, RAW.inDir)), 'raw folder\n');
    fs.mkdirSync(nameBytes(path.join(dir, RAW.empty)));
    fs.symlinkSync(nameBytes('bad\uDCFF\uDCFE.md'), nameBytes(path.join(dir, RAW.link)));
  }

  /** Like `listing`, byte-exact: names and link targets as hex where they are not plain ASCII. */
  function rawListing(dir: string): string[] {
    const out: string[] = [];
    const show = (bytes: Buffer): string =>
      /^[\x21-\x7e ]*$/.test(bytes.toString('latin1'))
        ? bytes.toString('latin1')
        : `<${bytes.toString('hex')}>`;
    const visit = (abs: Buffer, rel: string): void => {
      const names = fs
        .readdirSync(abs, { encoding: 'buffer' })
        .filter((n) => !(rel === '' && n.toString() === STATE));
      if (names.length === 0 && rel) out.push(`${rel}/ (empty)`);
      for (const name of names) {
        const childAbs = Buffer.concat([abs, Buffer.from('/'), name]);
        const childRel = rel ? `${rel}/${show(name)}` : show(name);
        const st = fs.lstatSync(childAbs);
        if (st.isSymbolicLink())
          out.push(`${childRel} -> ${show(fs.readlinkSync(childAbs, { encoding: 'buffer' }))}`);
        else if (st.isDirectory()) visit(childAbs, childRel);
        else {
          const sha = createHash('sha256').update(fs.readFileSync(childAbs)).digest('hex').slice(0, 16);
          out.push(`${childRel} ${st.mode & 0o111 ? 'x' : '-'} ${sha}`);
        }
      }
    };
    visit(Buffer.from(dir), '');
    return out.sort();
  }

  void it('are stored as git itself stores them and restored byte for byte through the transaction engine', async () => {
    const dir = tempDir();
    buildAwkward(dir);
    const store = await open(dir);
    try {
      const before = rawListing(dir);
      assert.ok(
        before.some((line) => line.includes('<626164fffe2e6d64>')),
        before.join('\n'),
      );
      const snapshot = await store.create({ reason: 'awkward names', trigger: 'user' });

      // The same tree id as `git add` + `write-tree`: the names went in as their bytes.
      const other = tempDir();
      const env = { ...process.env, GIT_DIR: path.join(other, 'repo.git'), GIT_WORK_TREE: dir };
      execFileSync('git', ['init', '-q', '--bare', path.join(other, 'repo.git')]);
      execFileSync('git', ['add', '-A', '-f', '--', '.', `:!${STATE}`], { env, cwd: dir });
      const gitTree = execFileSync('git', ['write-tree'], { env, encoding: 'utf8' }).trim();
      // git add cannot store an empty folder; compare once with it filled the same way.
      const tree = await store.readTree(snapshot.id);
      assert.equal(tree.get(RAW.empty)?.kind, 'dir');
      for (const rel of [...AWKWARD, RAW.file, RAW.inDir]) assert.equal(tree.get(rel)?.kind, 'file', rel);
      assert.equal(tree.get(RAW.link)?.kind, 'symlink');
      assert.ok(
        (await store.readBlob(tree.get(RAW.link)?.sha ?? '')).equals(nameBytes('bad\uDCFF\uDCFE.md')),
      );
      fs.rmdirSync(nameBytes(path.join(dir, RAW.empty)));
      assert.equal(
        (await store.create({ reason: 'without the empty folder', trigger: 'user' })).tree,
        gitTree,
      );
      fs.mkdirSync(nameBytes(path.join(dir, RAW.empty)));
      // With the stat index: nothing re-hashed, the same tree.
      const again = await store.create({ reason: 'again', trigger: 'user' });
      assert.equal(again.tree, snapshot.tree);

      fs.rmSync(nameBytes(path.join(dir, RAW.file)));
      fs.writeFileSync(nameBytes(path.join(dir, RAW.inDir)), 'edited\n');
      fs.rmdirSync(nameBytes(path.join(dir, RAW.empty)));
      fs.unlinkSync(nameBytes(path.join(dir, RAW.link)));
      fs.symlinkSync('SKILL.md', nameBytes(path.join(dir, RAW.link)));
      fs.writeFileSync(nameBytes(path.join(dir, 'skills/pdf/added\uDCFE')), 'added\n');
      for (const rel of AWKWARD.slice(0, 5)) fs.rmSync(path.join(dir, rel));
      fs.writeFileSync(path.join(dir, AWKWARD[5] as string), 'edited\n');
      const diff = await store.diffSnapshots('working', snapshot.id);
      assert.deepEqual(
        diff.filter((d) => d.rel.includes('\uDCFF') || d.rel.includes('\uDCFE') || d.rel.includes('\uDCC0')),
        [
          { rel: 'skills/empty\uDCFE', status: 'added', kind: 'dir' },
          { rel: RAW.file, status: 'added', kind: 'file' },
          { rel: RAW.link, status: 'modified', kind: 'symlink' },
          { rel: 'skills/pdf/added\uDCFE', status: 'deleted', kind: 'file' },
          { rel: RAW.inDir, status: 'modified', kind: 'file' },
        ].sort((a, b) => comparePaths(a.rel, b.rel)),
      );

      const safety = await store.create({ reason: 'safety', trigger: 'restore' });
      const changes = await store.planRestore(snapshot.id);
      await restoreThroughEngine(dir, 'tawkwardnames', safety.id, changes);
      assert.deepEqual(rawListing(dir), before);
      assert.deepEqual(await store.planRestore(snapshot.id), [], 'nothing left to do');
      // And back to the safety snapshot, the other way round.
      const back = await store.planRestore(safety.id);
      await applyChanges(
        dir,
        {
          txId: 'tawkwardback',
          kind: 'restore',
          description: 'test',
          artifacts: [],
          changes: back,
          tool: 'test',
        },
        { fs: nodeFs, logger: silentLogger },
      );
      assert.equal((await store.create({ reason: 'after', trigger: 'user' })).tree, safety.tree);
    } finally {
      store.close();
    }
  });

  void it('quotes such paths for git hash-object --stdin-paths, which reads them back exactly', () => {
    const dir = tempDir();
    const names = [
      'plain.md',
      'bad\uDCFF\uDCFE.md',
      'new\nline',
      'tab\t',
      'cr\r',
      '"leading-quote',
      'back\\slash',
      '-dash',
    ];
    const expected = names.map((name, i) => {
      const data = Buffer.from(`content ${i}\n`);
      fs.writeFileSync(nameBytes(path.join(dir, name)), data);
      return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
    });
    const input = names.map((name) => `${quoteForStdinPaths(path.join(dir, name))}\n`).join('');
    const out = execFileSync('git', ['hash-object', '--no-filters', '--stdin-paths'], {
      input,
      encoding: 'utf8',
    });
    assert.deepEqual(out.trim().split('\n'), expected);
  });
});
