/**
 * The status daemon's process (`artifact-keeper daemon run`, which `daemon start` launches): one
 * collection, one Unix socket in its `.artifact-keeper/`, one request at a time. A status request runs
 * the CLI's own `status` command here with the output captured, the stat cache kept in memory between
 * requests and the stamps taken on two threads; the client prints what it gets. It only ever reads the
 * collection (the stat and parse caches it writes are derived data, as any status writes them), takes no
 * lock, and holds nothing a writer waits for.
 *
 * It stops when asked (`daemon stop`), on SIGINT or SIGTERM, after `idleMs` without a request, when a
 * client of another build asks (an upgrade: the next `daemon start` runs the new code), when its socket
 * is removed or replaced, or when the collection's manifest is gone.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { CliIo, WarmChecks } from './context.js';
import { askDaemon, DAEMON_PROTOCOL, isOwnSocket } from './daemonSocket.js';
import type { DaemonReply, DaemonRequest } from './daemonSocket.js';
import { runCommand } from './runCommand.js';
import { statusCommand } from './commands/status.js';

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
  const since = Date.now();
  const warm: WarmChecks = { statCaches: new Map(), collections: new Map() };
  let answered = 0;
  let queue: Promise<void> = Promise.resolve();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });

  const answer = async (request: DaemonRequest): Promise<{ reply: DaemonReply; thenStop: boolean }> => {
    if (request.protocol !== DAEMON_PROTOCOL)
      return { reply: { ok: false, reason: 'protocol' }, thenStop: false };
    switch (request.kind) {
      case 'ping':
        return {
          reply: { ok: true, kind: 'ping', pid: process.pid, build, since, answered, idleMs },
          thenStop: false,
        };
      case 'stop':
        return { reply: { ok: true, kind: 'stop' }, thenStop: true };
      case 'status': {
        if (request.build !== build) return { reply: { ok: false, reason: 'build' }, thenStop: true };
        if (!sameFolder(request.collection, ownReal))
          return { reply: { ok: false, reason: 'collection' }, thenStop: false };
        const captured = { stdout: '', stderr: '' };
        const argv = ['--collection', request.collection, ...(request.json ? ['--json'] : [])];
        const code = await runCommand('status', statusCommand, argv, captureIo(captured), warm);
        answered++;
        return { reply: { ok: true, kind: 'status', ...captured, code }, thenStop: false };
      }
      default:
        return { reply: { ok: false, reason: 'protocol' }, thenStop: false };
    }
  };

  let idle: NodeJS.Timeout | undefined;
  const restartIdle = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => stop(), idleMs);
  };

  // Half-open: a client ends its side once the request is sent, and reads the answer after.
  const server = net.createServer({ allowHalfOpen: true }, (connection) => {
    const chunks: Buffer[] = [];
    let size = 0;
    connection.on('error', () => connection.destroy());
    connection.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) connection.destroy();
      else chunks.push(chunk);
    });
    connection.on('end', () => {
      let request: DaemonRequest;
      try {
        request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as DaemonRequest;
      } catch {
        connection.destroy();
        return;
      }
      queue = queue.then(async () => {
        restartIdle();
        const { reply, thenStop } = await answer(request).catch(() => ({
          reply: { ok: false, reason: 'protocol' } as const,
          thenStop: false,
        }));
        if (!connection.destroyed) connection.end(`${JSON.stringify(reply)}\n`);
        if (thenStop) stop();
        restartIdle();
      });
    });
  });

  if (!(await listen(server, socket))) return 'already-running';
  // The socket is ours alone (the collection's own folder may be shared).
  fs.chmodSync(socket, 0o600);
  const ino = fs.statSync(socket).ino;
  const manifest = path.join(dir, 'collection.toml');
  const watch = setInterval(() => {
    const now = fs.lstatSync(socket, { throwIfNoEntry: false });
    if (now?.ino !== ino || !fs.existsSync(manifest)) stop();
  }, WATCH_MS);
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  restartIdle();
  options.onListening?.();

  await stopped;
  clearInterval(watch);
  if (idle) clearTimeout(idle);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  // Unlinked while still ours only: a daemon started after this one may own the path now.
  if (fs.lstatSync(socket, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(socket, { force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 'stopped';
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

/** A request's output, captured; nothing interrupts a status (it only reads). */
function captureIo(into: { stdout: string; stderr: string }): CliIo {
  return {
    stdout: (text) => {
      into.stdout += text;
    },
    stderr: (text) => {
      into.stderr += text;
    },
    isTerminal: false,
    signal: new AbortController().signal,
  };
}
