/**
 * `dist/cli.js`, the `artifact-keeper` bin: runs the CLI bundle (`dist/cli-main.js`) through a V8 code
 * cache, so a warm start skips compiling ~800 KB of JavaScript (Node 20 has no `module.enableCompileCache`).
 * The cache lives in the user's cache folder, one file per bundle content, Node version and flags, and
 * command: it is written once, after the first run of that command without a usable cache, so it holds
 * the functions that command compiled on its way (a cache made by `status` leaves an `update` to compile
 * its own from source at every start). Derived data: any failure to read, accept or write it is
 * ignored, the bundle is compiled from source, and the command runs as before.
 * `NODE_DISABLE_COMPILE_CACHE=1` (Node's own switch for its compile cache) turns it off.
 *
 * A `status` or an `update` of a collection with a running daemon (`artifact-keeper daemon start`) is
 * asked of the daemon first, before the bundle is read (daemonSocket.ts); when the daemon does not take
 * it, it runs here as any command.
 *
 * Only Node built-ins here (and `cacheFolder.ts`, `daemonSocket.ts` and `exitCodes.ts`, which have only those): this file
 * is bundled alone, and everything it loads is paid on every start.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { cliCacheFolder } from './cacheFolder.js';
import { askDaemon, daemonRequestFor, runAtDaemon } from './daemonSocket.js';
import type { Output } from './daemonSocket.js';
import { EXIT } from './exitCodes.js';

const BUNDLE = path.join(__dirname, 'cli-main.js');
const PREFIX = 'cli-';
const SUFFIX = '.v8cache';
/** Caches kept per bundle: one per command used, the least recently written beyond this removed. */
const MAX_CACHES = 12;

/** `cli-<key>-<command>.v8cache`: the key of the bundle, Node and flags, then the command that made it. */
function cacheFileFor(source: string, argv: readonly string[]): string | undefined {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  try {
    const key = createHash('sha256')
      .update(source)
      .update(`\0${process.version}\0${process.arch}\0${process.execArgv.join(' ')}`)
      .digest('hex')
      .slice(0, 32);
    return path.join(cliCacheFolder(), `${PREFIX}${key}-${cacheCommand(argv)}${SUFFIX}`);
  } catch {
    return undefined;
  }
}

/** The command a run's cache is named after: the first argument when it looks like a command name. */
function cacheCommand(argv: readonly string[]): string {
  const first = argv[0] ?? '';
  return /^[a-z][a-z-]{0,23}$/.test(first) ? first : 'other';
}

function readCache(file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Atomic (temp + rename), and the caches of other bundles or Node versions removed. Never throws. */
function writeCache(file: string, data: Buffer): void {
  try {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, data, { mode: 0o600 });
    fs.renameSync(temp, file);
    // Other bundles' caches go; this bundle's other commands keep theirs, the newest MAX_CACHES of them.
    const key = path.basename(file).slice(0, PREFIX.length + 32);
    const mine: { name: string; mtimeMs: number }[] = [];
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) continue;
      if (!name.startsWith(`${key}-`)) fs.rmSync(path.join(dir, name), { force: true });
      else mine.push({ name, mtimeMs: fs.statSync(path.join(dir, name)).mtimeMs });
    }
    mine.sort((a, b) => b.mtimeMs - a.mtimeMs);
    for (const { name } of mine.slice(MAX_CACHES)) fs.rmSync(path.join(dir, name), { force: true });
  } catch {
    // Best effort: the next start compiles from source again.
  }
}

function run(): void {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  const cacheFile = cacheFileFor(source, process.argv.slice(2));
  const cachedData = readCache(cacheFile);
  // The CommonJS wrapper on the bundle's first line, so its line numbers (and source map) stay right.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  let script: vm.Script;
  try {
    script = new vm.Script(wrapped, { filename: BUNDLE, ...(cachedData ? { cachedData } : {}) });
  } catch (err) {
    if (!cachedData) throw err;
    script = new vm.Script(wrapped, { filename: BUNDLE });
  }
  if (cacheFile && (!cachedData || script.cachedDataRejected === true)) {
    // After the command, so the functions it compiled lazily are in the cache too.
    process.once('exit', () => {
      try {
        writeCache(cacheFile, script.createCachedData());
      } catch {
        // Best effort.
      }
    });
  }
  const fn = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: NodeJS.Module,
    filename: string,
    dirname: string,
  ) => void;
  // This module and its require: the bundle runs its main when `require.main === module`, as it would
  // as the entry point; it requires only Node built-ins, which resolve the same from here.
  fn.call(module.exports, module.exports, require, module, BUNDLE, __dirname);
}

/** A command the daemon answered: its output (in the order written) and exit code are this process's. */
function answered(output: Output, code: number): void {
  // A reader that went away (`… | head -1`) is not a failure (see ignoreClosedOutput in main.ts).
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  for (const [fd, text] of output) (fd === 1 ? process.stdout : process.stderr).write(text);
  process.exitCode = code;
}

/**
 * A command the daemon runs: Ctrl-C (or SIGTERM) cancels it there as it would here, a second one leaves
 * at once (exit 130, as the CLI's own second signal); not taken, it runs here.
 */
function runThere(socket: string, request: Parameters<typeof runAtDaemon>[1]): void {
  const running = runAtDaemon(socket, request);
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(130);
    running.cancel();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void running.outcome.then((outcome) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (outcome.kind === 'answered') answered(outcome.output, outcome.code);
    else if (outcome.kind === 'cancelled') process.exitCode = EXIT.cancelled;
    else if (outcome.kind === 'not-started') run();
    else {
      process.stderr.write(
        `artifact-keeper: the daemon running this ${request.kind === 'run' ? request.command : 'command'} stopped before it answered; \`artifact-keeper status\` shows where the collection is (the next command recovers an interrupted transaction)\n`,
      );
      process.exitCode = EXIT.software;
    }
  });
}

const viaDaemon = daemonRequestFor(process.argv.slice(2), process.cwd(), process.env, BUNDLE, () =>
  Boolean(process.stdin.isTTY && process.stdout.isTTY),
);
if (!viaDaemon) run();
else if (viaDaemon.request.kind === 'run') runThere(viaDaemon.socket, viaDaemon.request);
else {
  void askDaemon(viaDaemon.socket, viaDaemon.request).then((reply) => {
    if (reply?.ok && reply.kind === 'status') answered(reply.output, reply.code);
    else run();
  });
}
