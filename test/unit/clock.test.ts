/**
 * The clock is a port: every time an operation records comes from the `Clock` in its options, and the
 * core never reads ARTIFACT_KEEPER_NOW itself (only the composition roots do, through clockFromEnv).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/base/changes.js';
import { clockFromEnv, fixedClock, naiveUtcNow, systemClock } from '../../src/core/base/time.js';
import type { Clock } from '../../src/core/base/time.js';
import { parseToml } from '../../src/core/model/toml.js';
import type { TomlTable } from '../../src/core/model/toml.js';
import { nodeFs } from '../../src/core/ports/fs.js';
import { readHistory } from '../../src/core/store/history.js';
import { addFromSource } from '../../src/core/transfer/add.js';
import { initCollection } from '../../src/core/transfer/init.js';
import { updateArtifacts } from '../../src/core/transfer/update.js';
import { tempDir } from './support/collections.js';
import { makeUpstream, upstreamTempDir } from './support/upstream.js';

const INIT_TIME = new Date('2021-03-04T05:06:07.891Z');
const ADD_TIME = new Date('2022-01-02T03:04:05.678Z');
const UPDATE_TIME = new Date('2023-11-12T13:14:15.161Z');

const options = (clock: Clock) => ({ fs: nodeFs, logger: silentLogger, tool: 'clock-test', clock });

function readToml(dir: string, file: string): TomlTable {
  return parseToml(fs.readFileSync(path.join(dir, file)), file);
}

/** The one artifact's manifest entry and lock entry, as written on disk. */
function entries(dir: string): { artifact: TomlTable; locked: TomlTable; collection: TomlTable } {
  const manifest = readToml(dir, 'collection.toml');
  const lock = readToml(dir, 'collection.lock');
  const artifacts = manifest.artifacts as TomlTable[];
  const lockEntries = (lock.lock as TomlTable).entries as Record<string, TomlTable>;
  assert.equal(artifacts.length, 1);
  return {
    artifact: artifacts[0] as TomlTable,
    locked: Object.values(lockEntries)[0] as TomlTable,
    collection: manifest.collection as TomlTable,
  };
}

/** The `created` stamp `init` writes. */
function createdStamp(dir: string): unknown {
  return (readToml(dir, 'collection.toml').collection as TomlTable).created;
}

function setup(): { dir: string; source: string } {
  const up = makeUpstream(path.join(upstreamTempDir(), 'kit'), [
    { files: { 'commands/review.md': '# Review\nv1\n' }, tag: 'v1' },
    { files: { 'commands/review.md': '# Review\nv2\n' }, tag: 'v2' },
  ]);
  return { dir: path.join(tempDir('ak-clock-'), 'collection'), source: `${up.url}#commands/review.md@v1` };
}

describe('the clock port', () => {
  it('init, add and update record exactly the time of the clock they are given', async () => {
    const { dir, source } = setup();
    await initCollection(dir, { ...options(fixedClock(INIT_TIME)), name: 'clocked' });
    assert.equal(createdStamp(dir), naiveUtcNow(INIT_TIME));

    await addFromSource(dir, source, {}, options(fixedClock(ADD_TIME)));
    let written = entries(dir);
    assert.equal(written.artifact.added, naiveUtcNow(ADD_TIME));
    assert.equal(written.locked.fetched, naiveUtcNow(ADD_TIME));

    const run = await updateArtifacts(
      dir,
      'all',
      { strategy: 'overwrite', to: 'v2' },
      options(fixedClock(UPDATE_TIME)),
    );
    assert.equal(run.result?.updated.length, 1);
    written = entries(dir);
    assert.equal(written.artifact.last_updated, naiveUtcNow(UPDATE_TIME));
    assert.equal(written.locked.fetched, naiveUtcNow(UPDATE_TIME));
    assert.equal(written.collection.updated, naiveUtcNow(UPDATE_TIME));
    assert.equal(written.artifact.added, naiveUtcNow(ADD_TIME), 'the add time stays');

    const history = readHistory(dir); // newest first
    assert.deepEqual(
      history.map((h) => [h.kind, h.time]),
      [
        ['update', UPDATE_TIME.toISOString()],
        ['add', ADD_TIME.toISOString()],
        ['init', INIT_TIME.toISOString()],
      ],
    );
    // Transaction ids sort by the operation's clock too.
    assert.equal(history[0]?.txId.slice(1, 10), UPDATE_TIME.getTime().toString(36).padStart(9, '0'));
  });

  it('ARTIFACT_KEEPER_NOW in the environment does not reach an operation in-process', async () => {
    const { dir, source } = setup();
    const previous = process.env.ARTIFACT_KEEPER_NOW;
    process.env.ARTIFACT_KEEPER_NOW = '2001-01-01T00:00:00.000Z';
    const before = Date.now();
    try {
      await initCollection(dir, { fs: nodeFs, name: 'unpinned' });
      await addFromSource(dir, source, {}, { fs: nodeFs, logger: silentLogger, tool: 'clock-test' });
    } finally {
      if (previous === undefined) delete process.env.ARTIFACT_KEEPER_NOW;
      else process.env.ARTIFACT_KEEPER_NOW = previous;
    }
    const fetched = Date.parse(`${String(entries(dir).locked.fetched).slice(0, 23)}Z`);
    assert.ok(
      fetched >= before - 1000,
      `fetched ${String(entries(dir).locked.fetched)} is the machine's time`,
    );
    for (const entry of readHistory(dir)) assert.ok(Date.parse(entry.time) >= before - 1000, entry.time);
  });

  it('clockFromEnv pins the clock to ARTIFACT_KEEPER_NOW, else it is the system clock', () => {
    assert.equal(
      clockFromEnv({ ARTIFACT_KEEPER_NOW: UPDATE_TIME.toISOString() }).now().getTime(),
      UPDATE_TIME.getTime(),
    );
    assert.equal(clockFromEnv({}), systemClock);
    assert.equal(clockFromEnv({ ARTIFACT_KEEPER_NOW: 'not a time' }), systemClock);
  });

  it('nothing in src/core reads ARTIFACT_KEEPER_NOW: only clockFromEnv names it, on the env it is given', () => {
    const core = path.resolve(__dirname, '../../../src/core');
    const mentions: string[] = [];
    const visit = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) visit(file);
        else if (entry.name.endsWith('.ts')) {
          const text = fs.readFileSync(file, 'utf8');
          assert.doesNotMatch(text, /process\.env\s*(\.|\[\s*['"`])\s*ARTIFACT_KEEPER_NOW/, file);
          if (text.includes('ARTIFACT_KEEPER_NOW')) mentions.push(path.relative(core, file));
        }
      }
    };
    visit(core);
    assert.deepEqual(mentions, [path.join('base', 'time.ts')]);
    const time = fs.readFileSync(path.join(core, 'base', 'time.ts'), 'utf8');
    assert.doesNotMatch(time, /process\.env/, 'time.ts reads only the env it is handed');
  });
});
