/**
 * `npm run bench` section "update": one artifact updated from a local git upstream on the ~11k-file
 * collection, end to end through the CLI (snapshot, fetch, three-way merge, atomic commit), next to a
 * SkillMeat-style update in the same run (full clone of the upstream, tar.gz snapshot of the whole
 * collection, delete-then-copy of the artifact). Goal: ≤ 300 ms. Updates one after another with the
 * daemon running and without it, then where the time goes: the same update run with `ARTIFACT_KEEPER_TRACE=1`, phase by phase,
 * with the git processes it started.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { historyRows } from './historyLog.js';
import { slowLinkRows } from './slowLink.js';
import { phaseRows, runCliTraced } from './trace.js';
import type { TracedRun } from './trace.js';
import type { Row } from './util.js';
import { formatRows, git, goal, median, measure, reps, runCli, versus } from './util.js';

/** A local upstream repository with `skills/bench-pdf` at tags v1 and v2 (one line changed, one file added). */
export function makeUpstream(dir: string): void {
  fs.mkdirSync(path.join(dir, 'skills/bench-pdf/ref'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  const lines = (n: number, tag: string): string =>
    Array.from({ length: n }, (_, i) => `line ${i} ${tag}`).join('\n') + '\n';
  fs.writeFileSync(
    path.join(dir, 'skills/bench-pdf/SKILL.md'),
    `---\nname: bench-pdf\ndescription: bench\n---\n${lines(200, 'v1')}`,
  );
  for (let i = 0; i < 8; i++)
    fs.writeFileSync(path.join(dir, `skills/bench-pdf/ref/r${i}.md`), lines(100, `ref${i}`));
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'v1');
  git(dir, 'tag', 'v1');
  const skill = path.join(dir, 'skills/bench-pdf/SKILL.md');
  fs.writeFileSync(skill, fs.readFileSync(skill, 'utf8').replace('line 10 v1', 'line 10 v2 from upstream'));
  fs.writeFileSync(path.join(dir, 'skills/bench-pdf/ref/r9.md'), lines(50, 'new'));
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'v2');
  git(dir, 'tag', 'v2');
}

/** A new upstream commit (tag `fresh-<i>`) that changes one file of the skill; returns the tag. */
function freshCommit(dir: string, i: number): string {
  const tag = `fresh-${i}`;
  fs.appendFileSync(path.join(dir, 'skills/bench-pdf/ref/r7.md'), `${tag}\n`);
  git(dir, 'commit', '-qam', tag);
  git(dir, 'tag', tag);
  return tag;
}

export async function benchUpdate(collectionDir: string): Promise<string[]> {
  const upstream = path.join(path.dirname(collectionDir), 'update-upstream');
  makeUpstream(upstream);
  const add = runCli(['add', `${upstream}#skills/bench-pdf@v1`, '--collection', collectionDir]);
  // A local edit far from upstream's change, so the merge is clean.
  const skill = path.join(collectionDir, 'skills/bench-pdf/SKILL.md');
  fs.writeFileSync(
    skill,
    fs.readFileSync(skill, 'utf8').replace('line 150 v1', 'line 150 v1, my local note'),
  );
  const baseline = runCli(['snapshot', '-m', 'bench baseline', '--json', '--collection', collectionDir]);
  const baselineId = (JSON.parse(baseline.stdout) as { id: string }).id;

  // Retention keeps more than these runs take, so no run prunes (and gcs): the same work in every run.
  const keep = ['--keep', '100'];
  const updateTo = (tag: string): string[] => [
    'update',
    ...keep,
    'skill/bench-pdf',
    '--to',
    tag,
    '--strategy',
    'merge',
    '--collection',
    collectionDir,
  ];
  // After the first run, v2's content comes back from the store (applied before, then undone by the
  // restore): no fetch. The third run of each round updates to a commit never fetched before.
  const update = updateTo('v2');
  const applied = (): void => {
    if (!fs.readFileSync(skill, 'utf8').includes('line 10 v2 from upstream'))
      throw new Error('the update did not apply');
  };
  /** The update to a commit of `freshCommit` applied: its line is in the collection's copy. */
  const appliedFresh = (tag: string): void => {
    if (!fs.readFileSync(path.join(collectionDir, 'skills/bench-pdf/ref/r7.md'), 'utf8').includes(tag))
      throw new Error(`the update to ${tag} did not apply`);
  };
  const runs: number[] = [];
  const fresh: number[] = [];
  /** The updates to never-fetched commits, traced: how much of the snapshot's scan the fetch hid. */
  const freshTraced: TracedRun[] = [];
  const traced: TracedRun[] = [];
  const loads: number[] = [];
  for (let i = 0; i < reps(5); i++) {
    loads.push(os.loadavg()[0] ?? 0);
    runs.push(runCli(update).ms);
    applied();
    runCli(['restore', baselineId, ...keep, '--collection', collectionDir]);
    // Interleaved with the plain runs, so both see the same load.
    traced.push(runCliTraced(update));
    applied();
    runCli(['restore', baselineId, ...keep, '--collection', collectionDir]);
    const tag = freshCommit(upstream, i);
    const freshRun = runCliTraced(updateTo(tag));
    freshTraced.push(freshRun);
    fresh.push(freshRun.ms);
    appliedFresh(tag);
    runCli(['restore', baselineId, ...keep, '--collection', collectionDir]);
  }
  const ours = median(runs);

  // One update after another, as a person runs them: v2, back to v1, v2 again… (no restore between: that
  // would be another writer, whose bytes the daemon must read again). With the daemon running (the
  // launcher hands each to a warm process; its first update compiles and reads what later ones keep, so
  // it is left out), then by the CLI itself with the daemon stopped, from the same collection.
  const atTag = (tag: string): void => {
    if (fs.readFileSync(skill, 'utf8').includes('line 10 v2 from upstream') !== (tag === 'v2'))
      throw new Error(`the update to ${tag} did not apply`);
  };
  let next = 'v2';
  const oneMore = (env?: NodeJS.ProcessEnv): number => {
    const tag = next;
    next = tag === 'v2' ? 'v1' : 'v2';
    const { ms } = runCli(updateTo(tag), [0], env);
    atTag(tag);
    return ms;
  };
  /**
   * Updates through a daemon started in `env` (the clients run in it too): each one's time, and the daemon's
   * own. With `fresh`, then as many updates to commits never fetched before, each to a new one.
   */
  const throughDaemon = (
    env?: NodeJS.ProcessEnv,
    fresh = false,
  ): { wall: number[]; work: number[]; freshWall: number[]; freshWork: number[] } => {
    const wall: number[] = [];
    const freshWall: number[] = [];
    const cli = (args: string[]): { ms: number; stdout: string } => runCli(args, [0], env);
    cli(['daemon', 'start', '--collection', collectionDir]);
    try {
      const state = (): { answered?: number; recent?: { command: string; ms: number }[] } =>
        JSON.parse(cli(['daemon', 'status', '--collection', collectionDir, '--json']).stdout) as {
          answered?: number;
          recent?: { command: string; ms: number }[];
        };
      const before = state().answered ?? -1;
      for (let i = 0; i <= reps(5); i++) {
        const ms = oneMore(env);
        if (i > 0) wall.push(ms);
      }
      const between = state();
      const count = (between.answered ?? -1) - before;
      if (count !== wall.length + 1) throw new Error(`the daemon ran ${count} of ${wall.length + 1} updates`);
      // The daemon's own time for each measured update (from the client's `go` to its answer).
      const work = (between.recent ?? []).slice(-wall.length).map((r) => r.ms);
      for (let i = 0; fresh && i < reps(5); i++) {
        const tag = freshCommit(upstream, 100 + i);
        freshWall.push(cli(updateTo(tag)).ms);
        appliedFresh(tag);
      }
      const after = state();
      if ((after.answered ?? -1) - (between.answered ?? -1) !== freshWall.length)
        throw new Error('the daemon did not run every update to a new commit');
      const freshWork = freshWall.length
        ? (after.recent ?? []).slice(-freshWall.length).map((r) => r.ms)
        : [];
      return { wall, work, freshWall, freshWork };
    } finally {
      cli(['daemon', 'stop', '--collection', collectionDir]);
    }
  };
  const { wall: viaDaemon, work: daemonWork, freshWall, freshWork } = throughDaemon(undefined, true);
  // Node 20 parses the file `NODE_EXTRA_CA_CERTS` names at every start, before any of our code (40–60 ms
  // on the test machine, which sets it): the same updates where it is not set, when it is set here.
  const withoutExtraCerts = process.env.NODE_EXTRA_CA_CERTS
    ? throughDaemon(
        Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS')),
      )
    : undefined;
  const consecutive: number[] = [];
  for (let i = 0; i < reps(5); i++) consecutive.push(oneMore());
  runCli(['restore', baselineId, ...keep, '--collection', collectionDir]);
  const daemonMs = median(viaDaemon);
  const aloneMs = median(consecutive);

  // SkillMeat-style: clone the whole upstream, tar.gz the whole collection, remove then copy the artifact.
  const skillmeat: number[] = [];
  for (let i = 0; i < reps(3); i++) {
    const work = path.join(path.dirname(collectionDir), `skillmeat-${i}`);
    skillmeat.push(
      (
        await (async () => {
          const started = process.hrtime.bigint();
          git(
            path.dirname(collectionDir),
            'clone',
            '-q',
            '--depth',
            '1',
            '--branch',
            'v2',
            `file://${upstream}`,
            work,
          );
          await tar.create({ gzip: true, file: `${work}.tar.gz`, cwd: collectionDir }, ['.']);
          const target = path.join(collectionDir, 'skills/bench-pdf-skillmeat');
          fs.rmSync(target, { recursive: true, force: true });
          fs.cpSync(path.join(work, 'skills/bench-pdf'), target, { recursive: true });
          return { ms: Number(process.hrtime.bigint() - started) / 1e6 };
        })()
      ).ms,
    );
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(`${work}.tar.gz`, { force: true });
    fs.rmSync(path.join(collectionDir, 'skills/bench-pdf-skillmeat'), { recursive: true, force: true });
  }
  const status = measure(() => runCli(['status', '--collection', collectionDir], [0, 1]));
  const slowLink = await slowLinkRows(collectionDir, baselineId);
  const history = await historyRows(path.dirname(collectionDir));
  return formatRows([
    { label: 'add (first snapshot of the whole collection)', ms: add.ms },
    {
      label: 'update one skill, merge, end to end (CLI; the commit applied once before, read from the store)',
      ms: ours,
      notes: [goal(ours, 300), versus(ours, 'SkillMeat-style clone + tar.gz + copy', median(skillmeat))],
    },
    {
      label:
        'one such update after another (v2, v1, v2, …), with the daemon running (`daemon start`; each runs in a warm process)',
      ms: daemonMs,
      notes: [goal(daemonMs, 300), versus(daemonMs, 'the same updates without the daemon', aloneMs)],
    },
    {
      label:
        '  of which the daemon’s own work (from `go` to its answer; the rest is the client’s process and the wire)',
      ms: median(daemonWork),
      notes: [`the client ${(daemonMs - median(daemonWork)).toFixed(1)} ms`],
    },
    ...(withoutExtraCerts
      ? [
          {
            label:
              '  the same through the daemon, client and daemon where `NODE_EXTRA_CA_CERTS` is not set (it is here: Node 20 parses that file at every start)',
            ms: median(withoutExtraCerts.wall),
            notes: [
              goal(median(withoutExtraCerts.wall), 300),
              `the daemon's own work ${median(withoutExtraCerts.work).toFixed(1)} ms, the client ${(median(withoutExtraCerts.wall) - median(withoutExtraCerts.work)).toFixed(1)} ms`,
            ],
          },
        ]
      : []),
    {
      label: 'update one skill, merge, to a commit never fetched before (CLI)',
      ms: median(fresh),
      notes: [
        goal(median(fresh), 300),
        versus(median(fresh), 'SkillMeat-style clone + tar.gz + copy', median(skillmeat)),
      ],
    },
    ...freshOverlapRows(freshTraced),
    {
      label: '  the same through the daemon (each to a new commit, after the updates above)',
      ms: median(freshWall),
      notes: [
        goal(median(freshWall), 300),
        `the daemon's own work ${median(freshWork).toFixed(1)} ms, the client ${(median(freshWall) - median(freshWork)).toFixed(1)} ms`,
      ],
    },
    ...slowLink,
    {
      label: 'first status after the restore (CLI)',
      ms: status.ms,
      notes: ['manifest and lock changed: the full check, and its record written for the next status'],
    },
    ...history,
    {
      label: 'where the time of one update goes (ARTIFACT_KEEPER_TRACE=1)',
      value: '',
      notes: [`medians of ${traced.length} runs`, `load ${median(loads).toFixed(1)}`],
    },
    ...phaseRows(traced),
  ]);
}

/**
 * The fetch of an update to a never-fetched commit and the snapshot scan made while it runs
 * (snapshotAhead.ts), each phase's median: with a local upstream both sides of the fetch are processes
 * on this machine's two cores, so the scan and the fetch slow each other; over a network the fetch waits
 * and the scan fills the wait.
 */
function freshOverlapRows(runs: readonly TracedRun[]): Row[] {
  // Either may hold the other, by which ends first: a phase is looked up at any depth.
  const phase = (name: string): number =>
    median(
      runs.map((r) =>
        [...r.phases].filter(([key]) => key.trim() === name).reduce((sum, [, ms]) => sum + ms, 0),
      ),
    );
  return [
    { label: '  of which the fetch (git: init, fetch, ls-tree, read-tree)', ms: phase('fetch') },
    {
      label: '  and, at the same time, the scan for the snapshot before the update',
      ms: phase('snapshot scan, during the fetch'),
      notes: [`alone, in the breakdown below: "scan the collection"; ${runs.length} traced runs`],
    },
  ];
}
