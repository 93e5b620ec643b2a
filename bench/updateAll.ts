/**
 * `npm run bench` section "update --all": 2,000 skills (100 with BENCH_QUICK=1) all from one local git
 * upstream, whose newest commit changes 20 of them; `update --all` end to end through the CLI. Baseline
 * from the same run: what the update did before, one `ls-remote` + fetch per artifact (resolveSource +
 * fetchSource through the core), timed on 100 artifacts and extrapolated linearly to all of them.
 * Goal: ≤ 30 s and ≥ 10× faster than the baseline.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../src/core/base/changes.js';
import { naiveUtcNow } from '../src/core/base/time.js';
import { contentHash } from '../src/core/model/hash.js';
import { emptyLock, LOCK_FILE, serializeLock, setEntry } from '../src/core/model/lock.js';
import { addArtifact, MANIFEST_FILE, newManifest, serializeManifest } from '../src/core/model/manifest.js';
import { fetchSource, resolveSource, sourceFromUpstream } from '../src/core/sources/sources.js';
import { formatMs, formatRows, git, goal, QUICK, ratio, runCli } from './util.js';

const ARTIFACTS = QUICK ? 100 : 2000;
const CHANGED = 20;
const BASELINE_SAMPLE = Math.min(100, ARTIFACTS);

const name = (i: number): string => `s${String(i).padStart(4, '0')}`;
const skill = (i: number, tag: string): string =>
  `---\nname: ${name(i)}\ndescription: bench skill ${i}\n---\n# Skill ${i}\n\nStep one ${tag}.\nStep two.\n`;

/** The upstream at v1 (every skill), then a commit changing CHANGED of them; returns the v1 sha. */
function makeUpstream(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  for (let i = 0; i < ARTIFACTS; i++) {
    fs.mkdirSync(path.join(dir, 'skills', name(i)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'skills', name(i), 'SKILL.md'), skill(i, 'v1'));
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'v1');
  const v1 = git(dir, 'rev-parse', 'HEAD');
  const step = Math.floor(ARTIFACTS / CHANGED);
  for (let k = 0; k < CHANGED; k++) {
    const i = k * step;
    fs.writeFileSync(path.join(dir, 'skills', name(i), 'SKILL.md'), skill(i, 'v2 from upstream'));
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'v2');
  return v1;
}

/** A collection holding every skill at v1, written directly (as the synthetic collection is). */
function makeCollection(dir: string, upstream: string, v1: string): void {
  const now = naiveUtcNow(new Date(Date.UTC(2025, 0, 2, 10, 0, 0)));
  const manifest = newManifest('bench-update-all', now);
  const lock = emptyLock();
  for (let i = 0; i < ARTIFACTS; i++) {
    const rel = `skills/${name(i)}`;
    fs.mkdirSync(path.join(dir, rel), { recursive: true });
    fs.writeFileSync(path.join(dir, rel, 'SKILL.md'), skill(i, 'v1'));
    const key = { name: name(i), type: 'skill' as const };
    const up = `${upstream}#${rel}`;
    addArtifact(manifest, key, {
      path: rel,
      origin: 'local',
      added: now,
      upstream: up,
      version_spec: 'latest',
      resolved_sha: v1,
      last_updated: now,
    });
    setEntry(lock, key, {
      content_hash: contentHash(path.join(dir, rel)),
      fetched: now,
      upstream: up,
      resolved_sha: v1,
    });
  }
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), serializeManifest(manifest));
  fs.writeFileSync(path.join(dir, LOCK_FILE), serializeLock(lock));
}

/** The old loop's git work for `count` artifacts: resolve and fetch each on its own. */
async function oneFetchEach(upstream: string, count: number): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ak-bench-fetch-'));
  const started = process.hrtime.bigint();
  try {
    for (let i = 0; i < count; i++) {
      const source = sourceFromUpstream(`${upstream}#skills/${name(i)}`, 'latest');
      const resolved = await resolveSource(source, { logger: silentLogger, workDir: work });
      const fetched = await fetchSource(source, resolved, { workDir: work, logger: silentLogger });
      await fetched.dispose();
    }
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function benchUpdateAll(collectionDir: string): Promise<string[]> {
  const root = path.join(path.dirname(collectionDir), 'update-all');
  const upstream = path.join(root, 'upstream');
  const dir = path.join(root, 'collection');
  const v1 = makeUpstream(upstream);
  makeCollection(dir, upstream, v1);
  const baselineSample = await oneFetchEach(upstream, BASELINE_SAMPLE);
  const baseline = (baselineSample * ARTIFACTS) / BASELINE_SAMPLE;
  const run = runCli(['update', '--all', '--strategy', 'merge', '--json', '--collection', dir]);
  const outcomes = (JSON.parse(run.stdout) as { outcomes: { outcome: string }[] }).outcomes;
  const updated = outcomes.filter((o) => o.outcome === 'updated').length;
  const upToDate = outcomes.filter((o) => o.outcome === 'up-to-date').length;
  if (updated !== CHANGED || upToDate !== ARTIFACTS - CHANGED)
    throw new Error(
      `update --all: ${updated} updated, ${upToDate} up to date, expected ${CHANGED} and the rest`,
    );
  fs.rmSync(root, { recursive: true, force: true });
  const fast = baseline / run.ms >= 10;
  return formatRows([
    {
      label: `update --all, ${ARTIFACTS.toLocaleString('en-US')} artifacts, one upstream repo, ${CHANGED} changed (CLI)`,
      ms: run.ms,
      notes: [
        goal(run.ms, 30_000),
        `one fetch per artifact ${formatMs(baseline)} (measured on ${BASELINE_SAMPLE}: ${formatMs(baselineSample)}, extrapolated linearly), ${ratio(run.ms, baseline)}`,
        `goal ≥ 10× faster: ${fast ? 'met' : 'MISSED'}`,
      ],
    },
  ]);
}
