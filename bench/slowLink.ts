/**
 * The update section's rows over a slow link: an artifact whose upstream is served by `git daemon`
 * behind a proxy that holds every chunk `DELAY_MS` each way (a round trip of twice that, as to a server
 * some way off), updated by the CLI to commits never fetched before. Side by side, the same updates with
 * the snapshot scanned after the fetch (`ARTIFACT_KEEPER_SCAN_AHEAD=0`, as before 2026-12-07): how much
 * of the scan the fetch's waiting hides (snapshotAhead.ts). With a local upstream the two share this
 * machine's cores and the scan hides little; over a network the fetch mostly waits.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { makeUpstream } from './update.js';
import type { Row } from './util.js';
import { git, median, reps, runCli, sleep } from './util.js';

/** Each way: 25 ms, a 50 ms round trip. */
const DELAY_MS = 25;

/** The proxy's whole program: every chunk passed on `delay` ms late, in order, both ways. */
const PROXY_SOURCE = `
const net = require('node:net');
const [listen, target, delay] = process.argv.slice(1).map(Number);
net.createServer((client) => {
  const server = net.connect(target, '127.0.0.1');
  const pass = (from, to) => {
    from.on('data', (chunk) => setTimeout(() => to.write(chunk), delay));
    from.on('end', () => setTimeout(() => to.end(), delay));
    from.on('error', () => to.destroy());
  };
  pass(client, server);
  pass(server, client);
}).listen(listen, '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

/** A port free now (the OS's pick). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on `port` (or throws after 5 s). */
async function listening(port: number): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on port ${port}`);
}

/**
 * The rows: updates of `skill/bench-net` to new commits over the slow link, with the scan during the
 * fetch and after it, interleaved so that both see the same load. Leaves the collection as it was
 * (the artifact removed by restoring `baselineId`).
 */
export async function slowLinkRows(collectionDir: string, baselineId: string): Promise<Row[]> {
  if (spawnSync('git', ['daemon', '--help'], { stdio: 'ignore' }).status !== 0)
    return [{ label: 'update over a slow link', value: 'skipped', notes: ['`git daemon` is not installed'] }];
  const repos = path.join(path.dirname(collectionDir), 'slow-link-repos');
  const upstream = path.join(repos, 'net');
  makeUpstream(upstream);
  git(upstream, 'mv', 'skills/bench-pdf', 'skills/bench-net');
  git(upstream, 'commit', '-qm', 'net-v1');
  git(upstream, 'tag', 'net-v1');
  // As GitHub serves: blob filters honoured, any reachable commit handed out.
  git(upstream, 'config', 'uploadpack.allowFilter', 'true');
  git(upstream, 'config', 'uploadpack.allowAnySHA1InWant', 'true');

  const [daemonPort, proxyPort] = [await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  try {
    children.push(
      spawn(
        'git',
        [
          'daemon',
          '--export-all',
          `--base-path=${repos}`,
          '--reuseaddr',
          '--listen=127.0.0.1',
          `--port=${daemonPort}`,
        ],
        { stdio: 'ignore' },
      ),
    );
    children.push(
      spawn(process.execPath, ['-e', PROXY_SOURCE, String(proxyPort), String(daemonPort), String(DELAY_MS)], {
        stdio: 'ignore',
      }),
    );
    await listening(daemonPort);
    await listening(proxyPort);
    const keep = ['--keep', '100'];
    runCli([
      'add',
      `git://127.0.0.1:${proxyPort}/net#skills/bench-net@net-v1`,
      ...keep,
      '--collection',
      collectionDir,
    ]);
    const added = runCli([
      'snapshot',
      '-m',
      'bench slow link',
      ...keep,
      '--json',
      '--collection',
      collectionDir,
    ]);
    const addedId = (JSON.parse(added.stdout) as { id: string }).id;
    const r7 = path.join(collectionDir, 'skills/bench-net/ref/r7.md');
    const ahead: number[] = [];
    const after: number[] = [];
    const scanAfter = { ...process.env, ARTIFACT_KEEPER_SCAN_AHEAD: '0' };
    for (let i = 0; i < reps(5); i++) {
      for (const [runs, env] of i % 2 === 0
        ? ([
            [ahead, undefined],
            [after, scanAfter],
          ] as const)
        : ([
            [after, scanAfter],
            [ahead, undefined],
          ] as const)) {
        const tag = `net-${i}-${runs === ahead ? 'ahead' : 'after'}`;
        fs.appendFileSync(path.join(upstream, 'skills/bench-net/ref/r7.md'), `${tag}\n`);
        git(upstream, 'commit', '-qam', tag);
        git(upstream, 'tag', tag);
        const args = ['update', ...keep, 'skill/bench-net', '--to', tag, '--strategy', 'merge'];
        runs.push(runCli([...args, '--collection', collectionDir], [0], env).ms);
        if (!fs.readFileSync(r7, 'utf8').includes(tag)) throw new Error(`the update to ${tag} did not apply`);
        runCli(['restore', addedId, ...keep, '--collection', collectionDir]);
      }
    }
    const saved = median(after) - median(ahead);
    return [
      {
        label: `update one skill to a commit never fetched before, over a ${2 * DELAY_MS} ms round trip (git daemon behind a delaying proxy; CLI)`,
        ms: median(ahead),
        notes: [
          `the snapshot scanned after the fetch, as before 2026-12-07: ${median(after).toFixed(1)} ms`,
          `${saved.toFixed(1)} ms saved`,
        ],
      },
    ];
  } finally {
    for (const child of children) child.kill();
    runCli(['restore', baselineId, '--keep', '100', '--collection', collectionDir]);
    fs.rmSync(repos, { recursive: true, force: true });
  }
}
