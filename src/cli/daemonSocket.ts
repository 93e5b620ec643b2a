/**
 * The status daemon's socket and wire format, and its client. `artifact-keeper daemon start` leaves a
 * process that keeps one collection's stat cache, parse cache and compiled code warm, and answers
 * `status` for it (as git's fsmonitor daemon answers `git status`). The launcher asks it before it
 * loads the CLI's bundle, so a warm `status` costs Node's start-up and the check, nothing more.
 *
 * A request names the bundle it was launched with (`bundleBuild`), the collection and `--json`; the
 * daemon runs the same `status` command in its own process and sends back its output and exit code.
 * Anything unusual (no socket, a daemon gone or of another build, a slow answer) gives `undefined`, and
 * the caller runs the command itself: the daemon can only make a status faster, never different.
 *
 * Only Node built-ins here: the launcher that imports this file is bundled alone.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** Raised when a reply's shape changes; a daemon answers only requests of its own protocol. */
export const DAEMON_PROTOCOL = 1;
/** `.artifact-keeper` (core's STATE_DIR): the launcher cannot import the core. */
const STATE_DIR = '.artifact-keeper';
const SOCKET_FILE = 'daemon.sock';
/**
 * Longest socket path every Unix takes (macOS: 104 bytes with the terminating NUL; Linux 108). A
 * collection deeper than that has no daemon: `daemon start` says so, and `status` runs in-process.
 */
const MAX_SOCKET_PATH = 103;
/** How long a client waits for the answer before it checks by itself (a stopped or swamped daemon). */
export const ANSWER_TIMEOUT_MS = 10_000;

export type DaemonRequest =
  | { protocol: number; kind: 'status'; build: string; collection: string; json: boolean }
  | { protocol: number; kind: 'ping' }
  | { protocol: number; kind: 'stop' };

export type DaemonReply =
  | { ok: true; kind: 'status'; stdout: string; stderr: string; code: number }
  | {
      ok: true;
      kind: 'ping';
      pid: number;
      build: string;
      since: number;
      answered: number;
      idleMs: number;
    }
  | { ok: true; kind: 'stop' }
  /** `build`: another bundle launched the client (the daemon then exits); `collection`: not this one. */
  | { ok: false; reason: 'build' | 'collection' | 'protocol' };

/** The socket of a collection's daemon, or undefined where there can be none (Windows, a path too long). */
export function daemonSocket(collectionDir: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  const socket = path.join(collectionDir, STATE_DIR, SOCKET_FILE);
  return Buffer.byteLength(socket) <= MAX_SOCKET_PATH ? socket : undefined;
}

/**
 * Whether `socket` is a socket of this user's, itself and not through a link: a collection copied from
 * elsewhere could hold a `daemon.sock` that leads to another program's socket, which a status must never
 * talk to. One `lstat`: all a status pays when no daemon runs.
 */
export function isOwnSocket(socket: string): boolean {
  const stat = fs.lstatSync(socket, { throwIfNoEntry: false });
  return (
    stat !== undefined && stat.isSocket() && (process.getuid === undefined || stat.uid === process.getuid())
  );
}

/**
 * Which build of the CLI a process runs: the bundle's size and modification time. A daemon answers only
 * clients of its own build, so an upgrade or a rebuild never gets an answer from older code.
 */
export function bundleBuild(bundle: string): string {
  const stat = fs.statSync(bundle);
  return `${stat.size}-${stat.mtimeMs}`;
}

/**
 * The request for `argv` when it is a status the daemon can answer (`status` with only `--json` and
 * `--collection DIR`, and no ARTIFACT_KEEPER_* setting: fault plans, a pinned clock, traces and
 * `ARTIFACT_KEEPER_NO_DAEMON=1` run in-process) and a daemon's socket exists; otherwise undefined.
 */
export function statusRequestFor(
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  bundle: string,
): { socket: string; request: DaemonRequest } | undefined {
  if (argv[0] !== 'status') return undefined;
  if (Object.keys(env).some((name) => name.startsWith('ARTIFACT_KEEPER_'))) return undefined;
  let json = false;
  let collection: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--json' && !json) json = true;
    else if ((arg === '--collection' || arg === '-C') && collection === undefined && i + 1 < argv.length)
      collection = argv[++i] as string;
    else if (arg.startsWith('--collection=') && collection === undefined) collection = arg.slice(13);
    else return undefined;
  }
  const dir = path.resolve(cwd, collection ?? '.');
  const socket = daemonSocket(dir);
  if (!socket || !isOwnSocket(socket)) return undefined;
  try {
    return {
      socket,
      request: {
        protocol: DAEMON_PROTOCOL,
        kind: 'status',
        build: bundleBuild(bundle),
        collection: dir,
        json,
      },
    };
  } catch {
    return undefined;
  }
}

/**
 * Sends one request and reads its one-line answer. Resolves undefined when nothing answers (no daemon,
 * a stale socket, a connection closed early, no answer within `timeoutMs`, an answer that is not JSON).
 */
export function askDaemon(
  socket: string,
  request: DaemonRequest,
  timeoutMs = ANSWER_TIMEOUT_MS,
): Promise<DaemonReply | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (reply: DaemonReply | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const connection = net.createConnection(socket);
    connection.on('connect', () => connection.end(`${JSON.stringify(request)}\n`));
    connection.on('data', (chunk: Buffer) => chunks.push(chunk));
    connection.on('error', () => done(undefined));
    connection.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const line = text.endsWith('\n') ? text.slice(0, -1) : undefined;
      try {
        done(line === undefined ? undefined : (JSON.parse(line) as DaemonReply));
      } catch {
        done(undefined);
      }
    });
  });
}
