/**
 * `artifact-keeper daemon start|stop|status|run`: the daemon of one collection (daemonServer.ts).
 * `start` launches `run` in the background and returns once it answers; `status` and `update` from then
 * on are asked of it, warm, and answer the same as without it. Only the built CLI (`dist/cli.js`, the
 * package's bin) has one: the daemon answers clients of its own bundle.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureStateDir, loadCollection } from '../../core/index.js';
import type { CliCommand } from '../main.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../args.js';
import { EXIT } from '../exitCodes.js';
import { askDaemon, bundleBuild, DAEMON_PROTOCOL, daemonSocket, isOwnSocket } from '../daemonSocket.js';
import type { DaemonReply } from '../daemonSocket.js';
import { runDaemon } from '../daemonServer.js';

const DEFAULT_IDLE_MINUTES = 30;
/** How long `start` waits for the new daemon to answer, and `stop` for the old one to go. */
const WAIT_MS = 10_000;
const POLL_MS = 25;

type Ping = Extract<DaemonReply, { kind: 'ping' }>;

export const daemonCommand: CliCommand = {
  summary:
    'a background process that answers `status` and runs `update` for this collection, warm (start, stop, status, run)',
  usage: 'daemon start|stop|status|run [--idle-minutes N] [--collection DIR] [--json]',
  flags: { 'idle-minutes': { value: true } },
  async run(ctx) {
    const [action, ...extra] = ctx.args.positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const socket = daemonSocket(ctx.collectionDir);
    if (action === 'status') return report(ctx, socket ? await ping(socket) : undefined);
    if (action === 'stop') return stopDaemon(ctx, socket);
    if (action !== 'start' && action !== 'run')
      throw new UsageError('daemon takes start, stop, status or run');
    const idleMs = idleMinutes(ctx.flag('idle-minutes')) * 60_000;
    if (!socket) {
      ctx.err(
        process.platform === 'win32'
          ? 'artifact-keeper daemon: not available on Windows; status runs in its own process'
          : `artifact-keeper daemon: ${ctx.collectionDir} is too deep for a Unix socket; status runs in its own process`,
      );
      return EXIT.unavailable;
    }
    const bundle = path.join(__dirname, 'cli-main.js');
    const launcher = path.join(__dirname, 'cli.js');
    if (!fs.existsSync(bundle) || !fs.existsSync(launcher)) {
      ctx.err(`artifact-keeper daemon: runs from the built CLI only (${launcher} is missing; npm run build)`);
      return EXIT.unavailable;
    }
    // A folder that is no collection (exit 66), or one that does not load, gets no daemon.
    loadCollection(ctx.collectionDir);
    await ensureStateDir(ctx.fs, ctx.collectionDir);
    const build = bundleBuild(bundle);
    if (action === 'run') {
      let end: Awaited<ReturnType<typeof runDaemon>>;
      try {
        end = await runDaemon({ dir: ctx.collectionDir, socket, build, idleMs });
      } catch (err) {
        // A file system without sockets (some network and FUSE mounts), or no right to create one.
        ctx.err(`artifact-keeper daemon: cannot listen on ${socket}: ${(err as Error).message}`);
        return EXIT.unavailable;
      }
      if (end === 'already-running')
        ctx.err(`artifact-keeper daemon: one already answers for ${ctx.collectionDir}`);
      return EXIT.ok;
    }
    return startDaemon(ctx, socket, { build, launcher, idleMs });
  },
};

function idleMinutes(text: string | undefined): number {
  if (text === undefined) return DEFAULT_IDLE_MINUTES;
  const minutes = Number(text);
  if (text.trim() === '' || !Number.isFinite(minutes) || minutes <= 0)
    throw new UsageError('--idle-minutes takes a number > 0');
  return minutes;
}

async function ping(socket: string): Promise<Ping | undefined> {
  if (!isOwnSocket(socket)) return undefined;
  const reply = await askDaemon(socket, { protocol: DAEMON_PROTOCOL, kind: 'ping' }, 2_000);
  return reply?.ok && reply.kind === 'ping' ? reply : undefined;
}

function report(ctx: CliContext, running: Ping | undefined): number {
  if (ctx.json) {
    ctx.printJson(
      running
        ? {
            running: true,
            pid: running.pid,
            since: new Date(running.since).toISOString(),
            answered: running.answered,
            handedBack: running.handedBack,
            idleMinutes: running.idleMs / 60_000,
            recent: running.recent ?? [],
          }
        : { running: false },
    );
  } else if (running) {
    const up = Math.round((Date.now() - running.since) / 1000);
    const last = running.recent?.at(-1);
    const lastTook = last ? ` (the last, ${last.command}, in ${last.ms} ms)` : '';
    ctx.out(
      `daemon running for ${ctx.collectionDir}: pid ${running.pid}, up ${up} s, ${running.answered} commands answered${lastTook}, stops after ${running.idleMs / 60_000} idle minutes`,
    );
  } else ctx.out(`no daemon running for ${ctx.collectionDir}`);
  return EXIT.ok;
}

async function stopDaemon(ctx: CliContext, socket: string | undefined): Promise<number> {
  const running = socket ? await ping(socket) : undefined;
  if (!socket || !running) return report(ctx, undefined);
  await askDaemon(socket, { protocol: DAEMON_PROTOCOL, kind: 'stop' }, 2_000);
  if (!(await until(async () => !(await ping(socket))))) {
    ctx.err(`artifact-keeper daemon: pid ${running.pid} still answers after ${WAIT_MS / 1000} s`);
    return EXIT.unavailable;
  }
  if (ctx.json) ctx.printJson({ running: false, stopped: running.pid });
  else ctx.out(`daemon stopped (pid ${running.pid})`);
  return EXIT.ok;
}

async function startDaemon(
  ctx: CliContext,
  socket: string,
  options: { build: string; launcher: string; idleMs: number },
): Promise<number> {
  const running = await ping(socket);
  if (running?.build === options.build) {
    if (ctx.json) ctx.printJson({ running: true, pid: running.pid, started: false });
    else ctx.out(`daemon already running for ${ctx.collectionDir} (pid ${running.pid})`);
    return EXIT.ok;
  }
  // One of another build (the tool was upgraded or rebuilt) makes way for this one.
  if (running) {
    await askDaemon(socket, { protocol: DAEMON_PROTOCOL, kind: 'stop' }, 2_000);
    await until(async () => !(await ping(socket)));
  }
  // Its settings are the user's, not a test's: fault plans, pinned clocks and traces stay here.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('ARTIFACT_KEEPER_')),
  );
  const child = spawn(
    process.execPath,
    [
      options.launcher,
      'daemon',
      'run',
      '--collection',
      ctx.collectionDir,
      '--idle-minutes',
      String(options.idleMs / 60_000),
    ],
    { detached: true, stdio: 'ignore', env, cwd: path.parse(ctx.collectionDir).root },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  let answering: Ping | undefined;
  await until(async () => {
    answering = await ping(socket);
    return answering?.pid === child.pid || exited;
  });
  if (!answering || answering.pid !== child.pid) {
    ctx.err(
      exited
        ? `artifact-keeper daemon: the daemon exited before it answered; \`artifact-keeper daemon run\` shows why`
        : `artifact-keeper daemon: the daemon did not answer within ${WAIT_MS / 1000} s`,
    );
    return EXIT.unavailable;
  }
  if (ctx.json) ctx.printJson({ running: true, pid: answering.pid, started: true });
  else
    ctx.out(
      `daemon started for ${ctx.collectionDir} (pid ${answering.pid}); status and update ask it until it has been idle ${options.idleMs / 60_000} minutes`,
    );
  return EXIT.ok;
}

/** Polls `test` until it holds or `WAIT_MS` pass; whether it held. */
async function until(test: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await test()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
