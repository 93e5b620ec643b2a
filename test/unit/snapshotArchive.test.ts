/**
 * Tests for src/core/store/snapshotArchive.ts: export → import round trips, SkillMeat snapshot tarballs (made by
 * Python's tarfile exactly as SkillMeat makes them, when python3 is there), and hostile archives that
 * must be refused, naming the entry, with nothing written.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create as createTar, Header, list, Pack, ReadEntry } from 'tar';
import { silentLogger } from '../../src/core/base/changes.js';
import { CoreError } from '../../src/core/base/errors.js';
import { nameBytes } from '../../src/core/base/fileNames.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { EXPORT_META_FILE, exportSnapshot, importSnapshot } from '../../src/core/store/snapshotArchive.js';
import { importSkillmeatSnapshots } from '../../src/core/store/skillmeatSnapshots.js';
import { openSnapshotStore } from '../../src/core/store/snapshots.js';
import type { SnapshotStore } from '../../src/core/store/snapshots.js';
import { serializeToml } from '../../src/core/model/toml.js';
import { tempDir } from './support/collections.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

const STATE = '.artifact-keeper';

function build(
  dir: string,
  spec: Record<string, string | null | { link: string } | { text: string; mode: number }>,
): void {
  for (const [rel, value] of Object.entries(spec)) {
    const abs = path.join(dir, rel);
    if (value === null) {
      fs.mkdirSync(abs, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (typeof value === 'string') fs.writeFileSync(abs, value);
    else if ('link' in value) fs.symlinkSync(value.link, abs);
    else fs.writeFileSync(abs, value.text, { mode: value.mode });
  }
}

/** Every path below `dir` (all of it, `.artifact-keeper` included) with type, mode and content hash. */
function fullListing(dir: string): string[] {
  const out: string[] = [];
  const visit = (abs: string, rel: string): void => {
    for (const name of fs.readdirSync(abs).sort()) {
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(childAbs);
      if (st.isSymbolicLink()) out.push(`${childRel} -> ${fs.readlinkSync(childAbs)}`);
      else if (st.isDirectory()) {
        out.push(`${childRel}/`);
        visit(childAbs, childRel);
      } else {
        out.push(
          `${childRel} ${(st.mode & 0o777).toString(8)} ${createHash('sha1').update(fs.readFileSync(childAbs)).digest('hex')}`,
        );
      }
    }
  };
  visit(dir, '');
  return out;
}

async function open(dir: string): Promise<SnapshotStore> {
  return openSnapshotStore(dir, { fs: nodeFs, logger: silentLogger, tool: 'artifact-keeper test' });
}

const COLLECTION = {
  'collection.toml': '[collection]\nname = "default"\n',
  'collection.lock': '[lock]\nversion = "1.0.0"\n',
  'skills/pdf/SKILL.md': 'pdf\n',
  'skills/pdf/scripts/run.sh': { text: '#!/bin/sh\n', mode: 0o755 },
  'skills/pdf/empty': null,
  'skills/café/ü.md': 'unicode\n',
  'commands/review.md': 'review\n',
  'commands/alias.md': { link: 'review.md' },
  [`deep/${'long-name-'.repeat(12)}/file.md`]: 'long path\n',
};

void describe('export and import', () => {
  void it('round-trips awkward UTF-8 names (newline, tab, CR, backslash, leading dash) exactly', async () => {
    const dir = tempDir();
    build(dir, {
      'skills/a/SKILL.md': 'a\n',
      'skills/a/new\nline.md': 'n\n',
      'skills/a/tab\there.md': 't\n',
      'skills/a/cr\r': 'r\n',
      'skills/a/back\\slash.md': 'b\n',
      'skills/a/-dash.md': 'd\n',
      'skills/a/real\uFFFD.md': 'u\n',
      'skills/a/link': { link: 'new\nline.md' },
    });
    const store = await open(dir);
    try {
      const info = await store.create({ reason: 'x', trigger: 'user' });
      const file = path.join(tempDir(), 'awkward.tar.gz');
      await exportSnapshot(store, info.id, file);
      assert.equal((await importSnapshot(store, file)).tree, info.tree);
    } finally {
      store.close();
    }
  });

  void it('refuses to export a name or symlink target that is not UTF-8, naming it, with nothing written', async () => {
    for (const make of [
      (dir: string): void => fs.writeFileSync(nameBytes(path.join(dir, 'skills/a/bad\uDCFF\uDCFE.md')), 'x'),
      (dir: string): void => fs.symlinkSync(nameBytes('bad\uDCFF\uDCFE.md'), path.join(dir, 'skills/a/link')),
    ]) {
      const dir = tempDir();
      build(dir, { 'skills/a/SKILL.md': 'a\n' });
      make(dir);
      const store = await open(dir);
      try {
        const info = await store.create({ reason: 'x', trigger: 'user' });
        const out = tempDir();
        await assert.rejects(exportSnapshot(store, info.id, path.join(out, 'x.tar.gz')), (err) => {
          assert.ok(err instanceof CoreError, String(err));
          assert.equal(err.failure.code, 'snapshot-invalid');
          assert.match(
            err.message,
            /skills\/a\/(bad\\xff\\xfe\.md|link): the (name|symlink target) is not UTF-8/,
          );
          return true;
        });
        assert.deepEqual(fs.readdirSync(out), []);
      } finally {
        store.close();
      }
    }
  });

  void it('round-trips a snapshot through .tar.gz to the identical tree, touching only .artifact-keeper', async () => {
    const dir = tempDir();
    build(dir, COLLECTION);
    const store = await open(dir);
    try {
      const original = await store.create({
        reason: 'before update',
        trigger: 'update',
        artifacts: ['skill/pdf'],
        pinned: true,
      });
      const file = path.join(tempDir(), 'snap.tar.gz');
      const result = await exportSnapshot(store, original.id, file);
      assert.equal(result.files, 8);

      const names: string[] = [];
      await list({ file, onReadEntry: (e) => names.push(e.path) });
      assert.equal(names[0], EXPORT_META_FILE);
      assert.ok(names.includes('collection/skills/pdf/empty/'));
      assert.ok(names.every((n) => n === EXPORT_META_FILE || n.startsWith('collection/')));

      const again = path.join(tempDir(), 'again.tar.gz');
      await exportSnapshot(store, original.id, again);
      assert.deepEqual(fs.readFileSync(again), fs.readFileSync(file), 'exports are deterministic');

      // Import into another collection: same tree, new id, trigger import, origin recorded.
      const other = tempDir();
      build(other, { 'unrelated.md': 'mine\n' });
      const before = fullListing(other);
      const otherStore = await open(other);
      try {
        const imported = await importSnapshot(otherStore, file);
        assert.equal(imported.tree, original.tree);
        assert.notEqual(imported.id, original.id);
        assert.equal(imported.trigger, 'import');
        assert.deepEqual(imported.artifacts, ['skill/pdf']);
        assert.deepEqual(imported.origin, { kind: 'export', id: original.id, file: 'snap.tar.gz' });
        assert.match(imported.reason, /before update/);
        const after = fullListing(other);
        assert.deepEqual(
          after.filter((p) => !p.startsWith(`${STATE}/`) && p !== `${STATE}/`),
          before,
          'the collection itself is untouched',
        );
        assert.deepEqual(
          fs.readdirSync(path.join(other, STATE)).sort(),
          ['.gitignore', 'snapshots.git'],
          'no temp folder left',
        );
        const tree = await otherStore.readTree(imported.id);
        assert.equal(tree.get('commands/alias.md')?.kind, 'symlink');
        assert.equal(tree.get('skills/pdf/scripts/run.sh')?.mode, '100755');
        assert.equal(tree.get('skills/pdf/empty')?.kind, 'dir');
      } finally {
        otherStore.close();
      }
    } finally {
      store.close();
    }
  });
});

interface SkillmeatFixture {
  snapshotsDir: string;
  ids: string[];
}

/**
 * `~/.skillmeat/snapshots/<collection>/` as SkillMeat leaves it: `<id>.tar.gz` holding `<collection>/…`
 * (Python's `tarfile.add(collection_path, arcname=collection_name)`), and `snapshots.toml`.
 */
async function skillmeatSnapshots(): Promise<SkillmeatFixture> {
  const home = tempDir('ak-skillmeat-');
  const collection = path.join(home, 'collections', 'default');
  const snapshotsDir = path.join(home, 'snapshots', 'default');
  fs.mkdirSync(snapshotsDir, { recursive: true });
  const versions: [
    string,
    string,
    string,
    Record<string, string | null | { text: string; mode: number } | { link: string }>,
  ][] = [
    [
      '20260102-100000-000001',
      '2026-01-02T10:00:00.000001',
      'Before update',
      { 'skills/pdf/SKILL.md': 'v1\n' },
    ],
    [
      '20260105-083012-123456',
      '2026-01-05T08:30:12.123456',
      'Manual snapshot',
      { 'skills/pdf/SKILL.md': 'v2\n', 'agents/a.md': 'a\n' },
    ],
  ];
  build(collection, {
    'collection.toml': '[collection]\nname = "default"\n',
    'collection.lock': '',
    workflows: null,
  });
  const rows = [];
  for (const [id, timestamp, message, files] of versions) {
    build(collection, files);
    const tarball = path.join(snapshotsDir, `${id}.tar.gz`);
    const python = spawnSync(
      'python3',
      [
        '-c',
        'import sys, tarfile\nwith tarfile.open(sys.argv[1], "w:gz") as t: t.add(sys.argv[2], arcname=sys.argv[3])',
        tarball,
        collection,
        'default',
      ],
      { encoding: 'utf8' },
    );
    if (python.error || python.status !== 0) {
      // No python3 here: node-tar writes the same layout (a folder entry first, then its contents).
      await createTar({ gzip: true, file: tarball, cwd: path.dirname(collection) }, ['default']);
    }
    rows.push({
      id,
      timestamp,
      message,
      artifact_count: 2,
      tarball_path: `/home/someone/.skillmeat/snapshots/default/${id}.tar.gz`,
    });
  }
  fs.writeFileSync(path.join(snapshotsDir, 'snapshots.toml'), serializeToml({ snapshots: rows }));
  return { snapshotsDir, ids: versions.map((v) => v[0]) };
}

void describe('SkillMeat snapshots', () => {
  void it('imports every listed tarball with SkillMeat’s time and message, once', async () => {
    const { snapshotsDir, ids } = await skillmeatSnapshots();
    const dir = tempDir();
    build(dir, { 'collection.toml': 'x' });
    const store = await open(dir);
    try {
      const mine = await store.create({ reason: 'mine', trigger: 'user' });
      const imported = await importSkillmeatSnapshots(store, snapshotsDir);
      assert.deepEqual(
        imported.map((s) => s.origin?.id),
        ids,
      );
      assert.deepEqual(
        imported.map((s) => s.time),
        ['2026-01-02T10:00:00.000Z', '2026-01-05T08:30:12.123Z'],
      );
      assert.match(
        imported[1]?.reason ?? '',
        /SkillMeat snapshot 20260105-083012-123456: Manual snapshot \(2 artifacts\)/,
      );
      assert.equal(imported[0]?.origin?.collection, 'default');
      assert.equal(
        (await store.resolve('latest')).id,
        mine.id,
        'old history sorts below the newest snapshot',
      );

      const v1 = await store.readTree(imported[0]?.id ?? '');
      assert.deepEqual([...v1.keys()].sort(), [
        'collection.lock',
        'collection.toml',
        'skills/pdf/SKILL.md',
        'workflows',
      ]);
      assert.equal((await store.readBlob(v1.get('skills/pdf/SKILL.md')?.sha ?? '')).toString(), 'v1\n');
      const v2 = await store.readTree(imported[1]?.id ?? '');
      assert.ok(v2.has('agents/a.md'));

      assert.deepEqual(
        await importSkillmeatSnapshots(store, path.join(snapshotsDir, 'snapshots.toml')),
        [],
        'already imported',
      );
      const single = await importSnapshot(store, path.join(snapshotsDir, `${ids[0]}.tar.gz`));
      assert.equal(single.tree, imported[0]?.tree);
      assert.equal(single.origin?.kind, 'skillmeat');
      assert.deepEqual(fs.readdirSync(path.join(dir, STATE)).sort(), [
        '.gitignore',
        'snapshot-index.json',
        'snapshots.git',
      ]);
    } finally {
      store.close();
    }
  });

  void it('refuses a folder without snapshots.toml', async () => {
    const store = await open(tempDir());
    try {
      await assert.rejects(
        importSkillmeatSnapshots(store, tempDir()),
        (err) => err instanceof CoreError && err.failure.code === 'snapshot-invalid',
      );
    } finally {
      store.close();
    }
  });
});

type HostileEntry = {
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  data?: string;
  linkpath?: string;
};

async function hostileArchive(entries: HostileEntry[]): Promise<string> {
  const pack = new Pack({ gzip: true, portable: true, preservePaths: true });
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const entry of entries) {
    const data = entry.data === undefined ? undefined : Buffer.from(entry.data);
    const header = new Header({
      path: entry.path,
      type: entry.type,
      mode: entry.type === 'Directory' ? 0o755 : 0o644,
      size: data?.length ?? 0,
      mtime: new Date(0),
      ...(entry.linkpath ? { linkpath: entry.linkpath } : {}),
    });
    const readEntry = new ReadEntry(header);
    pack.write(readEntry);
    if (data) readEntry.end(data);
    else readEntry.end();
  }
  pack.end();
  await done;
  const file = path.join(tempDir(), 'hostile.tar.gz');
  fs.writeFileSync(file, Buffer.concat(chunks));
  return file;
}

const META = {
  path: EXPORT_META_FILE,
  type: 'File' as const,
  data: JSON.stringify({
    format: 'artifact-keeper-snapshot',
    version: 1,
    snapshot: { id: 'sx', artifacts: [] },
  }),
};
const ROOT = { path: 'collection/', type: 'Directory' as const };

void describe('hostile archives', () => {
  const cases: [string, HostileEntry[], RegExp][] = [
    [
      'a ".." path',
      [META, ROOT, { path: 'collection/../../x', type: 'File', data: 'x' }],
      /entry "collection\/..\/..\/x".*leaves/,
    ],
    ['a plain "../" path', [META, { path: '../evil', type: 'File', data: 'x' }], /entry "..\/evil"/],
    [
      'an absolute path',
      [META, ROOT, { path: '/tmp/ak-absolute-evil', type: 'File', data: 'x' }],
      /entry "\/tmp\/ak-absolute-evil": absolute/,
    ],
    [
      'a symlink escaping the collection',
      [META, ROOT, { path: 'collection/up', type: 'SymbolicLink', linkpath: '../../etc/passwd' }],
      /entry "collection\/up": symlink/,
    ],
    [
      'an absolute symlink',
      [META, ROOT, { path: 'collection/abs', type: 'SymbolicLink', linkpath: '/etc/passwd' }],
      /symlink to "\/etc\/passwd"/,
    ],
    [
      'a symlink that escapes from a subfolder',
      [META, ROOT, { path: 'collection/a/b/l', type: 'SymbolicLink', linkpath: '../../../x' }],
      /leaves the collection/,
    ],
    [
      'a file written through a symlink',
      [
        META,
        ROOT,
        { path: 'collection/dir', type: 'SymbolicLink', linkpath: 'other' },
        { path: 'collection/dir/file.md', type: 'File', data: 'x' },
      ],
      /below a symlink/,
    ],
    [
      'a hard link',
      [
        META,
        ROOT,
        { path: 'collection/a.md', type: 'File', data: 'a' },
        { path: 'collection/b.md', type: 'Link', linkpath: 'collection/a.md' },
      ],
      /entry "collection\/b.md": hard links/,
    ],
    [
      'a device file',
      [META, ROOT, { path: 'collection/dev', type: 'CharacterDevice' }],
      /entry "collection\/dev": device files/,
    ],
    ['a fifo', [META, ROOT, { path: 'collection/pipe', type: 'FIFO' }], /named pipes/],
    [
      'an entry outside collection/',
      [META, ROOT, { path: 'elsewhere.md', type: 'File', data: 'x' }],
      /outside "collection\/"/,
    ],
    [
      'SkillMeat tarball with two top folders',
      [
        { path: 'a/x.md', type: 'File', data: 'x' },
        { path: 'b/y.md', type: 'File', data: 'y' },
      ],
      /one collection folder/,
    ],
  ];
  for (const [what, entries, message] of cases) {
    void it(`refuses ${what}, naming the entry, with nothing written`, async () => {
      const dir = tempDir();
      build(dir, { 'a.md': 'a\n' });
      const store = await open(dir);
      try {
        await store.create({ reason: 'x', trigger: 'user' });
        const before = fullListing(dir);
        const file = await hostileArchive(entries);
        await assert.rejects(importSnapshot(store, file), (err) => {
          assert.ok(err instanceof CoreError, String(err));
          assert.equal(err.failure.code, 'snapshot-invalid');
          assert.match(err.message, message);
          return true;
        });
        assert.deepEqual(fullListing(dir), before, 'nothing written, not even a temp folder');
        assert.equal((await store.list()).length, 1);
        assert.equal(fs.existsSync('/tmp/ak-absolute-evil'), false);
      } finally {
        store.close();
      }
    });
  }

  void it('refuses a file that is not a tar.gz', async () => {
    const dir = tempDir();
    const store = await open(dir);
    try {
      const file = path.join(tempDir(), 'junk.tar.gz');
      fs.writeFileSync(file, 'this is not gzip');
      await assert.rejects(
        importSnapshot(store, file),
        (err) => err instanceof CoreError && err.failure.code === 'snapshot-invalid',
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      store.close();
    }
  });

  void it('accepts symlinks that stay inside, and the system tar agrees with our export', async () => {
    const dir = tempDir();
    build(dir, { 'a/b/l': { link: '../../top.md' }, 'top.md': 't\n' });
    const store = await open(dir);
    try {
      const info = await store.create({ reason: 'x', trigger: 'user' });
      const file = path.join(tempDir(), 'ok.tar.gz');
      await exportSnapshot(store, info.id, file);
      const listed = execFileSync('tar', ['tzf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
      assert.ok(listed.includes('collection/a/b/l'));
      assert.equal((await importSnapshot(store, file)).tree, info.tree);
    } finally {
      store.close();
    }
  });
});
