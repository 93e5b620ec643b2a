/**
 * The daemon's process (`artifact-keeper daemon run`, which `daemon start` launches): one collection,
 * one Unix socket in its `.artifact-keeper/`, one request at a time.
 * - A status request runs the CLI's own `status` command here with the output captured, the stat cache
 *   kept in memory between requests and the stamps taken on two threads; the client prints what it gets.
 *   It only reads the collection (the stat and parse caches it writes are derived data), takes no lock.
 * - A run request (`update`) runs the CLI's own command for a client whose environment is this
 *   process's (`environmentKey`), once the client says `go`; the client's `cancel` (its Ctrl-C) and the
 *   client going away abort it as the CLI's own signal would. It takes the writer lock as the CLI does,
 *   so it is one more writer among the CLI, the extension and the other windows, and its crash is any
 *   writer's crash (the next command recovers). A question only the client's terminal could answer
 *   stops it before it writes, and the client runs the command itself.
 *
 * It stops when asked (`daemon stop`), on SIGINT or SIGTERM (cancelling a command it runs), after
 * `idleMs` without a request, when a client of another build asks (an upgrade: the next `daemon start`
 * runs the new code), when its socket is removed or replaced, or when the folder holds no collection any
 * more; a command it runs finishes first.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { holdsCollection, KeptObjectReaders } from '../core/index.js';
import type { CliIo, WarmChecks } from './context.js';
import {
  askDaemon,
  DAEMON_PROTOCOL,
  environmentKey,
  isOwnSocket,
  LineReader,
  RECENT_KEPT,
} from './daemonSocket.js';
import type { AnsweredCommand, DaemonReply, DaemonRequest, Output } from './daemonSocket.js';
import { parseCommandArgs, runCommand } from './runCommand.js';
import type { CliCommand } from './runCommand.js';
import { statusCommand } from './commands/status.js';
import { updateCommand } from './commands/update.js';

/**
 * The commands the daemon runs for a client, and which of their argument lists would ask the client's
 * terminal as they start (those run in the client).
 */
const RUNNABLE: Record<
  Extract<DaemonRequest, { kind: 'run' }>['command'],
  { command: CliCommand; asks(flags: ReadonlyMap<string, unknown>): boolean }
> = {
  update: {
    command: updateCommand,
    asks: (flags) => flags.get('strategy') === 'prompt' || flags.has('auto-resolve'),
  },
};

/** Thrown by a command the daemon runs where it would ask the client's terminal (`CliIo.cannotAsk`). */
class NeedsTerminal extends Error {}

/** One client's connection after its request line: the lines it sends later, and its going away. */
class Conversation {
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private readonly lines: (string | undefined)[] = [];
  gone = false;

  push(line: string | undefined): void {
    if (this.gone) return;
    if (line === undefined) this.gone = true;
    const next = this.waiting.shift();
    if (next) next(line);
    else this.lines.push(line);
  }

  /** The next line, or undefined once the client has gone. */
  next(): Promise<string | undefined> {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift());
    if (this.gone) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** A request longer than this is not ours: the connection is closed unanswered. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** How often the daemon looks at its socket and the collection's manifest. */
const WATCH_MS = 1_000;

export interface DaemonOptions {
  /** The collection folder (absolute). */
  dir: string;
  socket: string;
  /** `bundleBuild` of the bundle this process runs. */
  build: string;
  idleMs: number;
  /** Called once the socket answers. */
  onListening?: () => void;
}

export type DaemonEnd = 'stopped' | 'already-running';

export async function runDaemon(options: DaemonOptions): Promise<DaemonEnd> {
  const { dir, socket, build, idleMs } = options;
  const ownReal = fs.realpathSync(dir);
  const ownEnvironment = environmentKey(process.env, process.umask());
  const since = Date.now();
  const warm: WarmChecks = {
    statCaches: new Map(),
    collections: new Map(),
    deferred: [],
    objectReaders: new KeptObjectReaders(),
  };
  let answered = 0;
  let handedBack = 0;
  const recent: AnsweredCommand[] = [];
  const took = (command: AnsweredCommand['command'], started: number): void => {
    answered++;
    recent.push({ command, ms: Math.round((performance.now() - started) * 10) / 10 });
    if (recent.length > RECENT_KEPT) recent.shift();
  };
  let queue: Promise<void> = Promise.resolve();
  /** The commands running for clients, cancelled by SIGINT or SIGTERM. */
  const running = new Set<AbortController>();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });

  type Answer = { reply: DaemonReply; thenStop: boolean };
  const reply = (r: DaemonReply, thenStop = false): Answer => ({ reply: r, thenStop });

  const answer = async (
    request: DaemonRequest,
    client: Conversation,
    connection: net.Socket,
  ): Promise<Answer> => {
    if (request.protocol !== DAEMON_PROTOCOL) return reply({ ok: false, reason: 'protocol' });
    switch (request.kind) {
      case 'ping':
        return reply({
          ok: true,
          kind: 'ping',
          pid: process.pid,
          build,
          since,
          answered,
          handedBack,
          idleMs,
          recent,
        });
      case 'stop':
        return reply({ ok: true, kind: 'stop' }, true);
      case 'status': {
        if (request.build !== build) return reply({ ok: false, reason: 'build' }, true);
        if (!sameFolder(request.collection, ownReal)) return reply({ ok: false, reason: 'collection' });
        const started = performance.now();
        const output: Output = [];
        const argv = ['--collection', request.collection, ...(request.json ? ['--json'] : [])];
        const code = await runCommand('status', statusCommand, argv, captureIo(output), warm);
        took('status', started);
        return reply({ ok: true, kind: 'status', output, code });
      }
      case 'run': {
        if (request.build !== build) return reply({ ok: false, reason: 'build' }, true);
        if (request.environment !== ownEnvironment) return reply({ ok: false, reason: 'environment' });
        const runnable = RUNNABLE[request.command];
        if (!runnable) return reply({ ok: false, reason: 'protocol' });
        const refused = refusal(runnable, request, ownReal);
        if (refused) return reply({ ok: false, reason: refused });
        // Nothing runs until the client confirms it is still waiting: one that gave up runs it itself.
        connection.write(`${JSON.stringify({ ok: true, kind: 'accepted' } satisfies DaemonReply)}\n`);
        if ((await client.next()) !== 'go') return reply({ ok: false, reason: 'protocol' });
        const started = performance.now();
        const controller = new AbortController();
        running.add(controller);
        void (async () => {
          for (let line = await client.next(); ; line = await client.next()) {
            // `cancel` is the client's Ctrl-C; a client gone is a command no one waits for.
            if (line === 'cancel' || line === undefined) controller.abort();
            if (line === undefined) return;
          }
        })();
        const output: Output = [];
        let asked = false;
        const io = captureIo(output, {
          isTerminal: request.terminal,
          signal: controller.signal,
          cwd: request.cwd,
          cannotAsk: () => {
            asked = true;
            throw new NeedsTerminal('this question needs the terminal of the client');
          },
        });
        try {
          const code = await runCommand(request.command, runnable.command, request.argv, io, warm);
          if (asked) {
            handedBack++;
            return reply({ ok: false, reason: 'terminal' });
          }
          took(request.command, started);
          return reply({ ok: true, kind: 'run', output, code });
        } finally {
          running.delete(controller);
        }
      }
      default:
        return reply({ ok: false, reason: 'protocol' });
    }
  };

  let idle: NodeJS.Timeout | undefined;
  const restartIdle = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => stop(), idleMs);
  };

  // One JSON line is the request; a `run` client keeps its side open for `go` and `cancel`, a `status`
  // client ends it once the request is sent (half-open) and reads the answer after.
  const server = net.createServer({ allowHalfOpen: true }, (connection) => {
    const lines = new LineReader();
    const client = new Conversation();
    let size = 0;
    let taken = false;
    const take = (line: string): void => {
      taken = true;
      let request: DaemonRequest;
      try {
        request = JSON.parse(line) as DaemonRequest;
      } catch {
        connection.destroy();
        return;
      }
      // A ping reads counters only: answered at once, even while a command runs.
      const immediate = request.kind === 'ping';
      const turn = immediate ? Promise.resolve() : queue;
      const served = turn.then(async () => {
        restartIdle();
        const { reply: r, thenStop } = await answer(request, client, connection).catch(() =>
          reply({ ok: false, reason: 'protocol' }),
        );
        if (!connection.destroyed) connection.end(`${JSON.stringify(r)}\n`);
        // Derived data the command left for after its answer; the next command waits for it.
        if (!immediate) for (const work of warm.deferred.splice(0)) await work().catch(() => undefined);
        if (thenStop) stop();
        restartIdle();
      });
      if (!immediate) queue = served;
    };
    connection.on('error', () => connection.destroy());
    connection.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        connection.destroy();
        return;
      }
      for (const line of lines.push(chunk)) {
        if (taken) client.push(line);
        else take(line);
      }
    });
    connection.on('end', () => {
      if (!taken && lines.rest !== '') take(lines.rest);
      client.push(undefined);
    });
    connection.on('close', () => client.push(undefined));
  });

  if (!(await listen(server, socket))) return 'already-running';
  // The socket is ours alone (the collection's own folder may be shared).
  fs.chmodSync(socket, 0o600);
  const ino = fs.statSync(socket).ino;
  const watch = setInterval(() => {
    const now = fs.lstatSync(socket, { throwIfNoEntry: false });
    // holdsCollection: a transaction's journal counts, as its renames move collection.toml aside.
    if (now?.ino !== ino || !holdsCollection(dir)) stop();
  }, WATCH_MS);
  const onSignal = (): void => {
    for (const controller of running) controller.abort();
    stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  restartIdle();
  options.onListening?.();

  await stopped;
  clearInterval(watch);
  // Unlinked while still ours only: a daemon started after this one may own the path now.
  if (fs.lstatSync(socket, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(socket, { force: true });
  // A command under way ends (its transaction commits or rolls back) before the process does.
  await queue;
  warm.objectReaders.closeAll();
  // Only now: each command that ended restarted the idle timer.
  if (idle) clearTimeout(idle);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 'stopped';
}

/** Why a run request is not run here (the client then runs it), or undefined. */
function refusal(
  runnable: (typeof RUNNABLE)[keyof typeof RUNNABLE],
  request: Extract<DaemonRequest, { kind: 'run' }>,
  ownReal: string,
): 'arguments' | 'collection' | undefined {
  let flags: ReadonlyMap<string, unknown>;
  try {
    flags = parseCommandArgs(runnable.command, request.argv).flags;
  } catch {
    return 'arguments'; // the client prints the usage error itself
  }
  if (flags.has('help') || runnable.asks(flags)) return 'arguments';
  const named = flags.get('collection');
  const dir = path.resolve(request.cwd, typeof named === 'string' ? named : '.');
  return sameFolder(dir, ownReal) ? undefined : 'collection';
}

/**
 * Listens on `socket`; what is in the way and does not answer as our daemon (a socket a killed daemon
 * left, a link, a file) is removed first, a folder never. False: a daemon answers there already.
 */
async function listen(server: net.Server, socket: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen(socket, () => {
        server.off('error', resolve);
        resolve(undefined);
      });
    });
    if (!error) return true;
    if (error.code !== 'EADDRINUSE' || attempt > 0) throw error;
    if (isOwnSocket(socket) && (await askDaemon(socket, { protocol: DAEMON_PROTOCOL, kind: 'ping' }, 2_000)))
      return false;
    fs.rmSync(socket, { force: true });
  }
}

function sameFolder(requested: string, ownReal: string): boolean {
  try {
    return fs.realpathSync(requested) === ownReal;
  } catch {
    return false;
  }
}

/**
 * A request's output, captured in the order it is written (a write joined to the previous one on the
 * same stream); no terminal and nothing that interrupts unless `rest` says otherwise (a status only reads).
 */
function captureIo(output: Output, rest: Partial<Omit<CliIo, 'stdout' | 'stderr'>> = {}): CliIo {
  const append = (fd: 1 | 2, text: string): void => {
    const last = output[output.length - 1];
    if (last && last[0] === fd) last[1] += text;
    else output.push([fd, text]);
  };
  return {
    stdout: (text) => append(1, text),
    stderr: (text) => append(2, text),
    isTerminal: false,
    signal: new AbortController().signal,
    ...rest,
  };
}
