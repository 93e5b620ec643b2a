/**
 * The daemon's socket and wire format, and its client. `artifact-keeper daemon start` leaves a process
 * that keeps one collection's stat cache, parse cache and compiled code warm, and answers `status` for
 * it (as git's fsmonitor daemon answers `git status`) and runs `update` for it. The launcher asks it
 * before it loads the CLI's bundle, so a warm command costs Node's start-up and the work, nothing more.
 *
 * The wire: one JSON line per message. A `status` request names the bundle it was launched with
 * (`bundleBuild`), the collection and `--json`; the daemon runs the same `status` command and sends back
 * its output and exit code. A `run` request (an update) also names the client's environment
 * (`environmentKey`), folder and terminal; the daemon answers `accepted`, runs nothing until the client
 * says `go`, and reads `cancel` (the client's Ctrl-C) until it sends the command's output and exit code.
 * Anything unusual before `go` (no socket, a daemon gone or of another build or environment, a slow
 * answer) gives `undefined` or `not-started`, and the caller runs the command itself: the daemon can
 * only make a command faster, never different.
 *
 * Only Node built-ins here: the launcher that imports this file is bundled alone.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/** Raised when a message's shape changes; a daemon answers only requests of its own protocol. */
export const DAEMON_PROTOCOL = 2;
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

/** The commands a daemon runs besides `status`: those whose every question has an answer on the command line. */
export const RUN_COMMANDS = ['update'] as const;

export type DaemonRequest =
  | { protocol: number; kind: 'status'; build: string; collection: string; json: boolean }
  | {
      protocol: number;
      kind: 'run';
      build: string;
      /** The collection the client found (absolute); the daemon checks the arguments name it too. */
      collection: string;
      command: (typeof RUN_COMMANDS)[number];
      /** The command's arguments after its name, as given. */
      argv: string[];
      /** The client's folder, which relative arguments are read against. */
      cwd: string;
      /** `environmentKey` of the client: a daemon runs commands only for the environment it runs in. */
      environment: string;
      /** Whether the client has a terminal (a question it would ask there makes the client run it itself). */
      terminal: boolean;
    }
  | { protocol: number; kind: 'ping' }
  | { protocol: number; kind: 'stop' };

/**
 * A command the daemon answered and its time there, from the start of its work (a run's `go`) to its
 * answer: what the client waited beyond its own start-up and the wire.
 */
export interface AnsweredCommand {
  command: 'status' | (typeof RUN_COMMANDS)[number];
  ms: number;
}

/** How many answered commands `daemon status` shows the times of. */
export const RECENT_KEPT = 20;

/** A command's output in the order it was written: 1 stdout, 2 stderr. */
export type Output = [1 | 2, string][];

export type DaemonReply =
  | { ok: true; kind: 'status'; output: Output; code: number }
  /** A run request taken: the daemon starts it when the client says `go`. */
  | { ok: true; kind: 'accepted' }
  | { ok: true; kind: 'run'; output: Output; code: number }
  | {
      ok: true;
      kind: 'ping';
      pid: number;
      build: string;
      since: number;
      answered: number;
      /** Commands stopped at a question for the client's terminal, which the client then ran. */
      handedBack: number;
      idleMs: number;
      /** The last commands answered (up to `RECENT_KEPT`, newest last) and the time each took here. */
      recent?: AnsweredCommand[];
    }
  | { ok: true; kind: 'stop' }
  /**
   * `build`: another bundle launched the client (the daemon then exits); `collection`: not this one;
   * `environment`: the client's environment is not the daemon's; `arguments`: a run whose arguments are
   * not ones the daemon runs (a usage error, `--help`, a question that needs the terminal); `terminal`: the
   * command stopped, before writing anything, at a question only the client's terminal can answer.
   */
  | {
      ok: false;
      reason: 'build' | 'collection' | 'protocol' | 'environment' | 'arguments' | 'terminal';
    };

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
 * Variables a shell sets per command or per folder, left out of `environmentKey`: two commands typed in
 * the same shell differ in them and in nothing a command reads.
 */
const SHELL_BOOKKEEPING = new Set(['_', 'PWD', 'OLDPWD', 'SHLVL']);

/**
 * What a command's outcome may depend on beyond its arguments: every environment variable (git reads
 * HOME, PATH, GIT_*, SSH_AUTH_SOCK, proxies and locale from it) but the shell's bookkeeping, the umask
 * (the modes of the files it creates), and the Node that runs it. A daemon runs a command only for a
 * client with its own key; any other runs the command itself.
 */
export function environmentKey(env: NodeJS.ProcessEnv, umask: number): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(env).sort()) {
    if (SHELL_BOOKKEEPING.has(name)) continue;
    hash.update(`${name}=${env[name] ?? ''}\0`);
  }
  hash.update(`umask=${umask}\0${process.execPath}\0${process.version}\0${process.execArgv.join(' ')}`);
  return hash.digest('hex');
}

/** The collection folder an argument list names (`--collection DIR`, `-C DIR`, `--collection=DIR`), else the current one. */
function collectionOf(argv: readonly string[], cwd: string): string {
  let named: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if ((arg === '--collection' || arg === '-C') && i + 1 < argv.length) named = argv[++i] as string;
    else if (arg.startsWith('--collection=')) named = arg.slice(13);
  }
  return path.resolve(cwd, named ?? '.');
}

/**
 * The request for `argv` when a daemon may answer it and a daemon's socket exists; otherwise undefined.
 * `status` with only `--json` and `--collection DIR`; `update` with any arguments (the daemon parses them
 * as the command would, and refuses what it does not run). Never under an ARTIFACT_KEEPER_* setting:
 * fault plans, a pinned clock, traces, log levels and `ARTIFACT_KEEPER_NO_DAEMON=1` run in-process.
 */
export function daemonRequestFor(
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  bundle: string,
  /** Whether the client has a terminal: asked for a run request only (reading it sets up stdin). */
  terminal: () => boolean = () => false,
): { socket: string; request: DaemonRequest } | undefined {
  const [name, ...rest] = argv;
  if (name !== 'status' && !RUN_COMMANDS.includes(name as (typeof RUN_COMMANDS)[number])) return undefined;
  if (Object.keys(env).some((key) => key.startsWith('ARTIFACT_KEEPER_'))) return undefined;
  let json = false;
  if (name === 'status') {
    let named = false;
    for (let i = 0; i < rest.length; i++) {
      const arg = rest[i] as string;
      if (arg === '--json' && !json) json = true;
      else if ((arg === '--collection' || arg === '-C') && !named && i + 1 < rest.length) {
        named = true;
        i++;
      } else if (arg.startsWith('--collection=') && !named) named = true;
      else return undefined;
    }
  }
  const dir = collectionOf(rest, cwd);
  const socket = daemonSocket(dir);
  if (!socket || !isOwnSocket(socket)) return undefined;
  try {
    const build = bundleBuild(bundle);
    if (name === 'status')
      return { socket, request: { protocol: DAEMON_PROTOCOL, kind: 'status', build, collection: dir, json } };
    return {
      socket,
      request: {
        protocol: DAEMON_PROTOCOL,
        kind: 'run',
        build,
        collection: dir,
        command: name as (typeof RUN_COMMANDS)[number],
        argv: rest,
        cwd,
        environment: environmentKey(env, process.umask()),
        terminal: terminal(),
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

/** A connection's chunks as lines (UTF-8, each ended by `\n`, which is dropped): both ends of the wire. */
export class LineReader {
  private readonly decoder = new StringDecoder('utf8');
  /** What came after the last `\n`: a line not ended yet. */
  rest = '';

  /** The lines `chunk` ends, in order. */
  push(chunk: Buffer): string[] {
    this.rest += this.decoder.write(chunk);
    const lines: string[] = [];
    for (let nl = this.rest.indexOf('\n'); nl >= 0; nl = this.rest.indexOf('\n')) {
      lines.push(this.rest.slice(0, nl));
      this.rest = this.rest.slice(nl + 1);
    }
    return lines;
  }
}

/** How a command sent to a daemon ended for the client. */
export type RunOutcome =
  /** The daemon ran it: print `output`, exit with `code`. */
  | { kind: 'answered'; output: Output; code: number }
  /** Nothing ran there (no daemon, refused, no `accepted` in time): run it here. */
  | { kind: 'not-started' }
  /** Cancelled before the daemon took it: nothing ran anywhere. */
  | { kind: 'cancelled' }
  /** The daemon took it and the connection ended without its outcome (the daemon was killed). */
  | { kind: 'lost' };

export interface DaemonRun {
  outcome: Promise<RunOutcome>;
  /** The client's Ctrl-C: the running command is cancelled as the CLI's own would be. */
  cancel(): void;
}

/**
 * Sends a `run` request and follows it: `go` once the daemon has accepted it (within `acceptMs`, else
 * the command is not started there and the caller runs it itself), `cancel` on `cancel()`, and the
 * command's output and exit code at the end. Once `go` is sent the client waits as long as the command
 * runs: running it again here could run it twice.
 */
export function runAtDaemon(socket: string, request: DaemonRequest, acceptMs = ANSWER_TIMEOUT_MS): DaemonRun {
  let resolveOutcome: (outcome: RunOutcome) => void = () => undefined;
  const outcome = new Promise<RunOutcome>((resolve) => {
    resolveOutcome = resolve;
  });
  let state: 'waiting' | 'running' | 'done' = 'waiting';
  const connection = net.createConnection(socket);
  const done = (result: RunOutcome): void => {
    if (state === 'done') return;
    state = 'done';
    clearTimeout(timer);
    connection.destroy();
    resolveOutcome(result);
  };
  const timer = setTimeout(() => done({ kind: 'not-started' }), acceptMs);
  const lines = new LineReader();
  const onLine = (line: string): void => {
    let reply: DaemonReply;
    try {
      reply = JSON.parse(line) as DaemonReply;
    } catch {
      done(state === 'running' ? { kind: 'lost' } : { kind: 'not-started' });
      return;
    }
    if (state === 'waiting') {
      if (!(reply.ok && reply.kind === 'accepted')) return done({ kind: 'not-started' });
      state = 'running';
      clearTimeout(timer);
      connection.write('go\n');
    } else if (reply.ok && reply.kind === 'run')
      done({ kind: 'answered', output: reply.output, code: reply.code });
    else if (!reply.ok && reply.reason === 'terminal') done({ kind: 'not-started' });
    else done({ kind: 'lost' });
  };
  connection.on('connect', () => connection.write(`${JSON.stringify(request)}\n`));
  connection.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) {
      if (state === 'done') break;
      onLine(line);
    }
  });
  const ended = (): void => done(state === 'running' ? { kind: 'lost' } : { kind: 'not-started' });
  connection.on('error', ended);
  connection.on('close', ended);
  return {
    outcome,
    cancel: () => {
      if (state === 'running') connection.write('cancel\n');
      else done({ kind: 'cancelled' });
    },
  };
}
