/**
 * Tests for src/core/store/looseObjects.ts and refFiles.ts: the objects and refs a snapshot adds, written
 * by this process instead of `unpack-objects --strict` and `update-ref`. Every check is git's own reading
 * of what was written (`cat-file`, `fsck --strict`, `rev-parse`, `for-each-ref`), on real repositories.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultPlan, withFaults } from '../../src/core/ports/faults.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { commitObject, gitObject } from '../../src/core/store/gitObjects.js';
import type { GitObject } from '../../src/core/store/gitObjects.js';
import { ObjectFolder } from '../../src/core/store/looseObjects.js';
import { createRefs, deleteRefs, moveRefs } from '../../src/core/store/refFiles.js';
import { tempDir } from './support/collections.js';
import { coreErrorOf } from './support/coreErrors.js';

// node:test's describe/it return promises that the runner tracks; `void` marks them deliberately unawaited.

function git(gitDir: string, ...args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8' });
}

function bareRepo(): string {
  const dir = path.join(tempDir(), 'store.git');
  execFileSync('git', ['init', '-q', '--bare', dir]);
  return dir;
}

function blob(text: string): GitObject {
  return gitObject('blob', Buffer.from(text));
}

/** A tree object from entries given in any order (sorted here as git sorts them). */
function tree(entries: { mode: string; name: string; sha: string }[], sort = true): GitObject {
  const key = (e: { mode: string; name: string }): Buffer =>
    Buffer.from(e.mode === '40000' ? `${e.name}/` : e.name);
  const list = sort ? [...entries].sort((a, b) => Buffer.compare(key(a), key(b))) : entries;
  return gitObject(
    'tree',
    Buffer.concat(list.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.sha, 'hex')])),
  );
}

function looseFiles(gitDir: string): string[] {
  const objects = path.join(gitDir, 'objects');
  return fs
    .readdirSync(objects)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .flatMap((d) => fs.readdirSync(path.join(objects, d)).map((f) => `${d}/${f}`))
    .sort();
}

void describe('ObjectFolder.write', () => {
  void it('writes blobs, trees and a commit that git reads back and fsck --strict accepts, byte for byte as git stores them', async () => {
    const gitDir = bareRepo();
    const a = blob('alpha\n');
    const b = gitObject('blob', randomBytes(3000));
    const link = blob('../a.md');
    const sub = tree([
      { mode: '100755', name: 'run.sh', sha: b.sha },
      { mode: '120000', name: 'link', sha: link.sha },
    ]);
    const empty = tree([]);
    const root = tree([
      { mode: '100644', name: 'a.md', sha: a.sha },
      { mode: '40000', name: 'a', sha: sub.sha },
      { mode: '40000', name: 'a-b', sha: empty.sha },
    ]);
    const commit = commitObject(root.sha, undefined, 'snapshot\n', new Date(0));
    const folder = new ObjectFolder(gitDir, nodeFs);
    assert.equal(await folder.write([a, b, link, sub, empty, root, commit]), true);
    for (const object of [a, b, link, sub, empty, root, commit]) {
      assert.equal(git(gitDir, 'cat-file', '-t', object.sha).trim(), object.type);
      const stored = fs.readFileSync(
        path.join(gitDir, 'objects', object.sha.slice(0, 2), object.sha.slice(2)),
      );
      assert.deepEqual(
        inflateSync(stored),
        Buffer.concat([Buffer.from(`${object.type} ${object.data.length}\0`), object.data]),
      );
    }
    assert.deepEqual(execFileSync('git', ['--git-dir', gitDir, 'cat-file', 'blob', b.sha]), b.data);
    assert.equal(git(gitDir, 'ls-tree', '-r', '--name-only', commit.sha), 'a.md\na/link\na/run.sh\n');
    git(gitDir, 'update-ref', 'refs/snapshots/x', commit.sha);
    git(gitDir, 'fsck', '--strict', '--no-dangling', '--full');
    // Written again: nothing changes, nothing fails.
    const before = looseFiles(gitDir);
    assert.equal(await folder.write([a, root, commit]), true);
    assert.deepEqual(looseFiles(gitDir), before);
  });

  void it('writes large objects deflated ahead on the thread pool as git reads them, and writes without them after a call whose objects never came', async () => {
    const gitDir = bareRepo();
    const folder = new ObjectFolder(gitDir, nodeFs);
    // Large enough to be deflated ahead (a snapshot's manifest and lock), compressible, and different.
    const manifest = blob('[[artifacts]]\nname = "a"\n'.repeat(4_000));
    const lock = blob('[lock.entries.a]\nhash = "x"\n'.repeat(4_000));
    const small = blob('small\n');
    // A call whose objects are never written (a scan not used), then the snapshot's own.
    const unused = blob('never written\n'.repeat(10_000));
    folder.deflateAhead([unused]);
    folder.deflateAhead([manifest, small, lock]);
    const root = tree([
      { mode: '100644', name: 'collection.lock', sha: lock.sha },
      { mode: '100644', name: 'collection.toml', sha: manifest.sha },
      { mode: '100644', name: 'small.md', sha: small.sha },
    ]);
    assert.equal(await folder.write([manifest, lock, small, root]), true);
    for (const object of [manifest, lock, small, root]) {
      const stored = fs.readFileSync(
        path.join(gitDir, 'objects', object.sha.slice(0, 2), object.sha.slice(2)),
      );
      assert.deepEqual(
        inflateSync(stored),
        Buffer.concat([Buffer.from(`${object.type} ${object.data.length}\0`), object.data]),
      );
    }
    for (const large of [manifest, lock]) {
      assert.deepEqual(execFileSync('git', ['--git-dir', gitDir, 'cat-file', 'blob', large.sha]), large.data);
      const file = path.join(gitDir, 'objects', large.sha.slice(0, 2), large.sha.slice(2));
      assert.ok(fs.statSync(file).size < large.data.length / 10, 'stored deflated');
    }
    assert.throws(() => git(gitDir, 'cat-file', '-e', unused.sha), /Command failed/, 'never written');
    // Written later without a deflate ahead: the object is deflated where it is written.
    assert.equal(await folder.write([unused]), true);
    assert.deepEqual(execFileSync('git', ['--git-dir', gitDir, 'cat-file', 'blob', unused.sha]), unused.data);
    git(gitDir, 'fsck', '--strict', '--no-dangling', '--full');
  });

  void it('accepts links to objects git has packed, and refuses one to an object nobody has, writing nothing', async () => {
    const gitDir = bareRepo();
    const a = blob('packed\n');
    const first = tree([{ mode: '100644', name: 'a.md', sha: a.sha }]);
    const commit = commitObject(first.sha, undefined, 'one\n', new Date(0));
    await new ObjectFolder(gitDir, nodeFs).write([a, first, commit]);
    git(gitDir, 'update-ref', 'refs/snapshots/one', commit.sha);
    git(gitDir, 'gc', '-q', '--prune=now');
    assert.deepEqual(looseFiles(gitDir), [], 'everything is packed');

    // A new process's view: pack indexes read from disk.
    const folder = new ObjectFolder(gitDir, nodeFs);
    const b = blob('new\n');
    const next = tree([
      { mode: '100644', name: 'a.md', sha: a.sha },
      { mode: '100644', name: 'b.md', sha: b.sha },
      { mode: '40000', name: 'old', sha: first.sha },
    ]);
    assert.equal(await folder.write([a, first, b, next]), true);
    assert.deepEqual(
      looseFiles(gitDir),
      [b, next].map((o) => `${o.sha.slice(0, 2)}/${o.sha.slice(2)}`).sort(),
      'what a pack holds is not written again',
    );
    assert.equal(git(gitDir, 'ls-tree', '-r', '--name-only', next.sha), 'a.md\nb.md\nold/a.md\n');

    const missing = blob('never written\n');
    const broken = tree([
      { mode: '100644', name: 'a.md', sha: a.sha },
      { mode: '100644', name: 'gone.md', sha: missing.sha },
    ]);
    const before = looseFiles(gitDir);
    const err = await coreErrorOf(folder.write([blob('x\n'), broken]));
    assert.equal(err.code, 'snapshot-invalid');
    assert.equal(err.cause, undefined, 'a refusal, not a fault: the snapshot starts over without its index');
    assert.match(err.message, new RegExp(`${missing.sha}.*gone\\.md`));
    assert.deepEqual(looseFiles(gitDir), before, 'nothing written');
    const orphan = commitObject(missing.sha, undefined, 'x\n', new Date(0));
    assert.equal((await coreErrorOf(folder.write([orphan]))).code, 'snapshot-invalid');
  });

  void it('refuses trees git would refuse: unsorted, a name twice, a bad mode, an empty name, a slash', async () => {
    const gitDir = bareRepo();
    const a = blob('a\n');
    const folder = new ObjectFolder(gitDir, nodeFs);
    await folder.write([a]);
    const cases: [string, GitObject][] = [
      [
        'unsorted',
        tree(
          [
            { mode: '100644', name: 'b', sha: a.sha },
            { mode: '100644', name: 'a', sha: a.sha },
          ],
          false,
        ),
      ],
      [
        'twice',
        tree(
          [
            { mode: '100644', name: 'a', sha: a.sha },
            { mode: '100644', name: 'a', sha: a.sha },
          ],
          false,
        ),
      ],
      ['mode', tree([{ mode: '100664', name: 'a', sha: a.sha }])],
      ['zero-padded mode', tree([{ mode: '040000', name: 'a', sha: a.sha }])],
      ['empty name', tree([{ mode: '100644', name: '', sha: a.sha }])],
      ['slash', tree([{ mode: '100644', name: 'x/y', sha: a.sha }])],
      ['leading slash', tree([{ mode: '100644', name: '/x', sha: a.sha }])],
      ['trailing slash', tree([{ mode: '100644', name: 'x/', sha: a.sha }])],
      ['truncated', gitObject('tree', Buffer.from('100644 a\0abc'))],
    ];
    for (const [what, object] of cases) {
      const before = looseFiles(gitDir);
      const err = await coreErrorOf(folder.write([object]));
      assert.equal(err.code, 'snapshot-invalid', what);
      assert.deepEqual(looseFiles(gitDir), before, `${what}: nothing written`);
      // git agrees: written as is, its strict fsck names the same object.
      const sha = execFileSync(
        'git',
        ['--git-dir', gitDir, 'hash-object', '--literally', '-t', 'tree', '-w', '--stdin'],
        {
          input: object.data,
        },
      )
        .toString()
        .trim();
      const fsck = spawnSync('git', ['--git-dir', gitDir, 'fsck', '--strict', '--no-dangling'], {
        encoding: 'utf8',
      });
      assert.match(`${fsck.stdout}${fsck.stderr}`, new RegExp(`tree ${sha}`), `${what}: git refuses it too`);
      fs.rmSync(path.join(gitDir, 'objects', sha.slice(0, 2), sha.slice(2)));
    }
  });

  void it('leaves the writing to git where it cannot tell what the repository holds', async () => {
    const gitDir = bareRepo();
    const a = blob('a\n');
    fs.mkdirSync(path.join(gitDir, 'objects/pack'), { recursive: true });
    fs.writeFileSync(
      path.join(gitDir, 'objects/pack/pack-broken.idx'),
      Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]),
    );
    assert.equal(await new ObjectFolder(gitDir, nodeFs).write([a]), false, 'a pack index that does not read');
    fs.rmSync(path.join(gitDir, 'objects/pack/pack-broken.idx'));
    fs.writeFileSync(path.join(gitDir, 'objects/info/alternates'), '/elsewhere/objects\n');
    assert.equal(await new ObjectFolder(gitDir, nodeFs).write([a]), false, 'borrowed objects');
    assert.deepEqual(looseFiles(gitDir), []);
  });

  void it('a failing write leaves no temp object, and the object is absent or whole', async () => {
    const gitDir = bareRepo();
    for (const op of ['mkdir', 'writeFile', 'rename'] as const) {
      const object = blob(`fault at ${op}\n`);
      const plan = new FaultPlan([{ op, nth: 1, errno: 'ENOSPC' }]);
      const err = await coreErrorOf(new ObjectFolder(gitDir, withFaults(nodeFs, plan)).write([object]));
      assert.equal(err.code, 'io-failed', op);
      assert.deepEqual(
        looseFiles(gitDir).filter((f) => f.includes('tmp_')),
        [],
        `${op}: no temp left`,
      );
      assert.throws(() => git(gitDir, 'cat-file', '-e', object.sha), /Command failed/, `${op}: absent`);
    }
  });

  void it('a write that fails among many throws only once every other write has ended, leaving each object whole or absent', async () => {
    const gitDir = bareRepo();
    const objects = Array.from({ length: 12 }, (_, i) => gitObject('blob', randomBytes(20_000 + i)));
    const plan = new FaultPlan([{ op: 'writeFile', nth: 1, errno: 'EIO' }]);
    const err = await coreErrorOf(new ObjectFolder(gitDir, withFaults(nodeFs, plan)).write(objects));
    assert.equal(err.code, 'io-failed');
    // The files as the caller finds them when the call has thrown, and a moment later: the same.
    const atThrow = looseFiles(gitDir);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(looseFiles(gitDir), atThrow, 'no write still running after the throw');
    assert.deepEqual(
      atThrow.filter((f) => f.includes('tmp_')),
      [],
      'no temp left',
    );
    let kept = 0;
    for (const object of objects) {
      const file = path.join(gitDir, 'objects', object.sha.slice(0, 2), object.sha.slice(2));
      if (!fs.existsSync(file)) continue;
      kept++;
      assert.deepEqual(inflateSync(fs.readFileSync(file)).subarray(-object.data.length), object.data);
    }
    assert.equal(kept, objects.length - 1, 'every object but the failed one was written');
  });
});

void describe('createRefs', () => {
  void it('creates refs git reads, and refuses one that exists loose, packed or locked, writing nothing', async () => {
    const gitDir = bareRepo();
    const a = blob('a\n');
    const commit = commitObject(
      tree([{ mode: '100644', name: 'a', sha: a.sha }]).sha,
      undefined,
      'x\n',
      new Date(0),
    );
    const root = tree([{ mode: '100644', name: 'a', sha: a.sha }]);
    await new ObjectFolder(gitDir, nodeFs).write([a, root, commit]);
    assert.equal(
      await createRefs(gitDir, nodeFs, ['refs/snapshots/s1', 'refs/pins/s1'], commit.sha),
      'created',
    );
    assert.equal(git(gitDir, 'rev-parse', 'refs/snapshots/s1').trim(), commit.sha);
    assert.equal(git(gitDir, 'for-each-ref', '--format=%(refname)'), 'refs/pins/s1\nrefs/snapshots/s1\n');
    assert.equal(await createRefs(gitDir, nodeFs, ['refs/snapshots/s1'], commit.sha), 'exists', 'loose');
    git(gitDir, 'pack-refs', '--all', '--prune');
    assert.equal(fs.existsSync(path.join(gitDir, 'refs/snapshots/s1')), false, 'now only packed');
    assert.equal(await createRefs(gitDir, nodeFs, ['refs/snapshots/s1'], commit.sha), 'exists', 'packed');
    fs.writeFileSync(path.join(gitDir, 'refs/snapshots/s2.lock'), '');
    assert.equal(
      await createRefs(gitDir, nodeFs, ['refs/snapshots/s3', 'refs/snapshots/s2'], commit.sha),
      'exists',
      'locked by a git at work on it',
    );
    assert.equal(fs.existsSync(path.join(gitDir, 'refs/snapshots/s3')), false, 'none of them written');
    fs.mkdirSync(path.join(gitDir, 'reftable'));
    assert.equal(await createRefs(gitDir, nodeFs, ['refs/snapshots/s4'], commit.sha), 'unsupported');
    assert.equal(fs.existsSync(path.join(gitDir, 'refs/snapshots/s4')), false);
  });

  void it('a failing write leaves neither the ref nor its lock', async () => {
    const gitDir = bareRepo();
    for (const op of ['writeFile', 'rename'] as const) {
      const plan = new FaultPlan([{ op, nth: 1, errno: 'EIO' }]);
      const err = await coreErrorOf(
        createRefs(gitDir, withFaults(nodeFs, plan), ['refs/snapshots/s1'], '1'.repeat(40)),
      );
      assert.equal(err.code, 'io-failed', op);
      assert.deepEqual(fs.readdirSync(path.join(gitDir, 'refs/snapshots')), [], `${op}: nothing left`);
    }
  });
});

/** A bare repository holding one file's tree and two commits of it, the second on the first; no refs. */
async function repoWithTwoCommits(): Promise<{ gitDir: string; one: string; two: string }> {
  const gitDir = bareRepo();
  const a = blob('a\n');
  const root = tree([{ mode: '100644', name: 'a', sha: a.sha }]);
  const one = commitObject(root.sha, undefined, 'one\n', new Date(0));
  const two = commitObject(root.sha, one.sha, 'two\n', new Date(1000));
  await new ObjectFolder(gitDir, nodeFs).write([a, root, one, two]);
  return { gitDir, one: one.sha, two: two.sha };
}

/** Every `*.lock` file left anywhere in the repository. */
function locksIn(gitDir: string): string[] {
  return (fs.readdirSync(gitDir, { recursive: true }) as string[]).filter((n) => n.endsWith('.lock'));
}

void describe('moveRefs', () => {
  /** A store with two commits and `refs/upstream/skill/a` at the first, loose. */
  async function storeWithRef(): Promise<{ gitDir: string; first: string; second: string }> {
    const { gitDir, one, two } = await repoWithTwoCommits();
    git(gitDir, 'update-ref', 'refs/upstream/skill/a', one);
    return { gitDir, first: one, second: two };
  }

  void it('moves loose and packed refs and creates new ones, as git then reads them', async () => {
    const { gitDir, first, second } = await storeWithRef();
    git(gitDir, 'update-ref', 'refs/upstream/skill/b', first);
    git(gitDir, 'pack-refs', '--all', '--prune');
    git(gitDir, 'update-ref', 'refs/upstream/skill/a', first); // loose again, over its packed value
    git(gitDir, 'update-ref', 'refs/upstream/skill/a', second, first);
    assert.equal(
      await moveRefs(gitDir, nodeFs, [
        { ref: 'refs/upstream/skill/a', sha: first, old: second },
        { ref: 'refs/upstream/skill/b', sha: second, old: first },
        { ref: 'refs/upstream/command/c', sha: second, old: undefined },
      ]),
      'moved',
    );
    assert.equal(
      git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)'),
      `refs/upstream/command/c ${second}\nrefs/upstream/skill/a ${first}\nrefs/upstream/skill/b ${second}\n`,
    );
    assert.deepEqual(locksIn(gitDir), []);
    execFileSync('git', ['--git-dir', gitDir, 'fsck', '--strict', '--no-dangling'], { stdio: 'pipe' });
  });

  void it('leaves to git, writing nothing, every move whose ref is not plainly where it was said to be', async () => {
    const { gitDir, first, second } = await storeWithRef();
    const ref = 'refs/upstream/skill/a';
    const cases: [string, () => void, { ref: string; sha: string; old: string | undefined }[]][] = [
      ['a loose ref elsewhere', () => undefined, [{ ref, sha: second, old: second }]],
      ['an existing ref created', () => undefined, [{ ref, sha: second, old: undefined }]],
      [
        'a ref given twice',
        () => undefined,
        [
          { ref, sha: second, old: first },
          { ref, sha: first, old: second },
        ],
      ],
      [
        'a lock there',
        () => fs.writeFileSync(path.join(gitDir, `${ref}.lock`), ''),
        [{ ref, sha: second, old: first }],
      ],
      [
        'a packed ref elsewhere',
        () => git(gitDir, 'pack-refs', '--all', '--prune'),
        [{ ref, sha: first, old: second }],
      ],
      ['a new ref under a packed one', () => undefined, [{ ref: `${ref}/x`, sha: first, old: undefined }]],
      [
        'a new ref over packed ones',
        () => undefined,
        [{ ref: 'refs/upstream/skill', sha: first, old: undefined }],
      ],
      [
        'a symbolic ref',
        () => {
          fs.mkdirSync(path.dirname(path.join(gitDir, ref)), { recursive: true });
          fs.writeFileSync(path.join(gitDir, ref), 'ref: refs/upstream/skill/b\n');
        },
        [{ ref, sha: second, old: first }],
      ],
      [
        'a reftable',
        () => fs.mkdirSync(path.join(gitDir, 'reftable')),
        [{ ref: 'refs/upstream/skill/n', sha: first, old: undefined }],
      ],
    ];
    for (const [what, arrange, moves] of cases) {
      fs.rmSync(path.join(gitDir, `${ref}.lock`), { force: true });
      arrange();
      const before = git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)');
      assert.equal(await moveRefs(gitDir, nodeFs, moves), 'unsupported', what);
      assert.equal(
        git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)'),
        before,
        `${what}: nothing moved`,
      );
      assert.equal(
        fs.existsSync(path.join(gitDir, 'refs/upstream/skill/n')),
        false,
        `${what}: nothing created`,
      );
    }
  });

  void it('a failing write moves nothing and leaves no lock; a failing rename leaves no lock', async () => {
    const { gitDir, first, second } = await storeWithRef();
    const moves = [
      { ref: 'refs/upstream/skill/a', sha: second, old: first },
      { ref: 'refs/upstream/skill/b', sha: second, old: undefined },
    ];
    const plan = new FaultPlan([{ op: 'writeFile', nth: 2, errno: 'ENOSPC' }]);
    const err = await coreErrorOf(moveRefs(gitDir, withFaults(nodeFs, plan), moves));
    assert.equal(err.code, 'io-failed');
    assert.equal(
      git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)'),
      `refs/upstream/skill/a ${first}\n`,
    );
    assert.deepEqual(locksIn(gitDir), []);
    const renames = new FaultPlan([{ op: 'rename', nth: 1, errno: 'EIO' }]);
    assert.equal((await coreErrorOf(moveRefs(gitDir, withFaults(nodeFs, renames), moves))).code, 'io-failed');
    assert.equal(
      git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)'),
      `refs/upstream/skill/a ${first}\n`,
    );
    assert.deepEqual(locksIn(gitDir), [], 'no lock left to block git');
    assert.equal(await moveRefs(gitDir, nodeFs, moves), 'moved', 'and the next try succeeds');
  });
});

void describe('deleteRefs', () => {
  /** A store with refs a, b (also tagged, annotated) and c; a and the tag packed, b both packed and loose. */
  async function storeWithRefs(): Promise<{ gitDir: string; one: string; two: string }> {
    const { gitDir, one, two } = await repoWithTwoCommits();
    git(gitDir, 'update-ref', 'refs/snapshots/sa', one);
    git(gitDir, 'update-ref', 'refs/snapshots/sb', one);
    git(gitDir, 'tag', '-a', '-m', 'kept', 'kept', one);
    git(gitDir, 'pack-refs', '--all', '--prune');
    git(gitDir, 'update-ref', 'refs/snapshots/sb', two, one); // loose over its packed value
    git(gitDir, 'update-ref', 'refs/snapshots/sc', two);
    return { gitDir, one, two };
  }

  const refsOf = (gitDir: string): string => git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)');

  void it('deletes packed, loose, and packed-and-loose refs as git then reads them, keeping the rest of packed-refs', async () => {
    const { gitDir, one, two } = await storeWithRefs();
    const tag = git(gitDir, 'rev-parse', 'refs/tags/kept').trim();
    assert.equal(
      await deleteRefs(gitDir, nodeFs, [
        { ref: 'refs/snapshots/sa', old: one },
        { ref: 'refs/snapshots/sb', old: two },
        { ref: 'refs/snapshots/sc', old: two },
      ]),
      'deleted',
    );
    assert.equal(refsOf(gitDir), `refs/tags/kept ${tag}\n`);
    const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
    assert.match(packed, /^# pack-refs with:/, 'the header stays');
    assert.match(
      packed,
      new RegExp(`\\n${tag} refs/tags/kept\\n\\^${one}\\n`),
      'a kept tag keeps its peeled line',
    );
    assert.equal(git(gitDir, 'rev-parse', 'kept^{commit}').trim(), one);
    assert.deepEqual(locksIn(gitDir), []);
    execFileSync('git', ['--git-dir', gitDir, 'fsck', '--strict'], { stdio: 'pipe' });
    // A deleted tag takes its peeled line with it.
    assert.equal(await deleteRefs(gitDir, nodeFs, [{ ref: 'refs/tags/kept', old: tag }]), 'deleted');
    assert.equal(refsOf(gitDir), '');
    assert.doesNotMatch(fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8'), /\^/);
    execFileSync('git', ['--git-dir', gitDir, 'fsck', '--strict'], { stdio: 'pipe' });
  });

  void it('leaves to git, deleting nothing, every ref not plainly at the value it was listed with', async () => {
    const { gitDir, one, two } = await storeWithRefs();
    const cases: [string, () => void, { ref: string; old: string }[]][] = [
      ['a packed ref elsewhere', () => undefined, [{ ref: 'refs/snapshots/sa', old: two }]],
      ['a loose ref elsewhere', () => undefined, [{ ref: 'refs/snapshots/sb', old: one }]],
      ['a ref that is not there', () => undefined, [{ ref: 'refs/snapshots/sz', old: one }]],
      [
        'a ref given twice',
        () => undefined,
        [
          { ref: 'refs/snapshots/sc', old: two },
          { ref: 'refs/snapshots/sc', old: two },
        ],
      ],
      [
        'a lock on the ref',
        () => fs.writeFileSync(path.join(gitDir, 'refs/snapshots/sc.lock'), ''),
        [{ ref: 'refs/snapshots/sc', old: two }],
      ],
      [
        'a lock on packed-refs',
        () => fs.writeFileSync(path.join(gitDir, 'packed-refs.lock'), ''),
        [{ ref: 'refs/snapshots/sa', old: one }],
      ],
      [
        'a reftable',
        () => fs.mkdirSync(path.join(gitDir, 'reftable')),
        [{ ref: 'refs/snapshots/sc', old: two }],
      ],
    ];
    for (const [what, arrange, deletions] of cases) {
      for (const lock of ['refs/snapshots/sc.lock', 'packed-refs.lock'])
        fs.rmSync(path.join(gitDir, lock), { force: true });
      arrange();
      const before = refsOf(gitDir);
      const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
      assert.equal(await deleteRefs(gitDir, nodeFs, deletions), 'unsupported', what);
      assert.equal(refsOf(gitDir), before, `${what}: nothing deleted`);
      assert.equal(
        fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8'),
        packed,
        `${what}: packed-refs as it was`,
      );
    }
  });

  void it('a failing write deletes nothing; a failing unlink leaves the ref loose; neither leaves a lock', async () => {
    const { gitDir, one, two } = await storeWithRefs();
    const deletions = [
      { ref: 'refs/snapshots/sa', old: one },
      { ref: 'refs/snapshots/sb', old: two },
    ];
    const before = refsOf(gitDir);
    // The rewrite of packed-refs: its temp written, then renamed.
    for (const op of ['writeFile', 'rename'] as const) {
      const plan = new FaultPlan([{ op, nth: 1, errno: 'ENOSPC' }]);
      assert.equal(
        (await coreErrorOf(deleteRefs(gitDir, withFaults(nodeFs, plan), deletions))).code,
        'io-failed',
        op,
      );
      assert.equal(refsOf(gitDir), before, `${op}: nothing deleted`);
      assert.deepEqual(locksIn(gitDir), [], `${op}: no lock left`);
    }
    const unlinks = new FaultPlan([{ op: 'unlink', nth: 1, errno: 'EIO' }]);
    assert.equal(
      (await coreErrorOf(deleteRefs(gitDir, withFaults(nodeFs, unlinks), deletions))).code,
      'io-failed',
    );
    assert.equal(git(gitDir, 'rev-parse', 'refs/snapshots/sb').trim(), two, 'still there, loose');
    assert.deepEqual(locksIn(gitDir), []);
    assert.equal(
      await deleteRefs(gitDir, nodeFs, [{ ref: 'refs/snapshots/sb', old: two }]),
      'deleted',
      'the next try',
    );
    assert.equal(refsOf(gitDir).includes('refs/snapshots/s'), true, 'sc stays');
    assert.equal(refsOf(gitDir).includes('refs/snapshots/sb'), false);
  });
});
