/**
 * `npm run bench`: generates the synthetic collection in a temp folder, gives every section its own
 * fresh copy, prints what each section returns, and removes the temp folder. Sections that other
 * modules provide (`snapshots`, `update`, `update --all`, `scaling`) run when their module is there and are skipped otherwise.
 * `BENCH_QUICK=1` runs the 100-skill collection with fewer repetitions. `BENCH_ONLY=status,update` runs only
 * the sections whose names start with one of those words; `=update` runs the section named exactly `update`.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateCollection, generateSmall } from './generate.js';
import { benchEventLoop } from './eventLoop.js';
import { benchBigFile } from './bigFile.js';
import { benchFloors } from './floors.js';
import { benchStatus } from './status.js';
import {
  CLI,
  copyCollection,
  formatBytes,
  formatCount,
  formatMs,
  formatRows,
  formatSection,
  measure,
  QUICK,
} from './util.js';

type Section = (collectionDir: string) => Promise<string[]>;

const requireModule = createRequire(__filename);

/** A section from an optional module: undefined when the module does not exist (yet). */
function optionalSection(specifier: string, exportName: string): Section | undefined {
  try {
    requireModule.resolve(specifier);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  // The module exists: a failure while loading it is a real error, not a missing section.
  const loaded = requireModule(specifier) as Record<string, unknown>;
  const fn = loaded[exportName];
  if (typeof fn !== 'function') throw new Error(`${specifier} does not export a function ${exportName}`);
  return fn as Section;
}

async function main(): Promise<number> {
  const started = process.hrtime.bigint();
  if (!fs.existsSync(CLI)) {
    process.stderr.write(`bench: ${CLI} is missing; run \`npm run build\` first (npm run bench does)\n`);
    return 1;
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ak-bench-'));
  let failed = 0;
  try {
    const template = path.join(root, 'template');
    const generated = measure(() => (QUICK ? generateSmall(template) : generateCollection(template)));
    const g = generated.value;
    const header = formatRows([
      {
        label: 'generate collection',
        ms: generated.ms,
        notes: [
          `${formatCount(g.artifacts)} artifacts`,
          `${formatCount(g.files)} files`,
          formatBytes(g.bytes),
          QUICK ? 'BENCH_QUICK=1' : 'full size',
        ],
      },
    ]);
    const load = os.loadavg()[0] ?? 0;
    const cpus = os.cpus().length;
    // What npm packs (`prepack`) is the production build; `npm run bench` measures that one.
    const bundle = fs.readFileSync(path.join(path.dirname(CLI), 'cli-main.js'), 'utf8');
    const build = bundle.includes('\n//# sourceMappingURL=')
      ? 'development build'
      : 'production build, as npm packs it';
    const machine = `${cpus} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load ${load.toFixed(1)}, CLI: ${build}`;
    const noisy = load > cpus * 0.5 ? ['(the machine is busy: expect noisy figures)'] : [];
    print(formatSection(`setup (${machine})`, [...header, ...noisy]));

    const sections: [string, () => Section | undefined][] = [
      ['floors (what no command can go below here)', () => benchFloors],
      ['status', () => benchStatus],
      ['event loop (consistency check in VS Code)', () => benchEventLoop],
      ['snapshots', () => optionalSection('./snapshots.js', 'benchSnapshots')],
      ['update', () => optionalSection('./update.js', 'benchUpdate')],
      ['drift', () => optionalSection('./drift.js', 'benchDrift')],
      ['update --all', () => optionalSection('./updateAll.js', 'benchUpdateAll')],
      ['scaling', () => optionalSection('./scaling.js', 'benchScaling')],
      ['50 MB binary', () => benchBigFile],
    ];
    const only = (process.env.BENCH_ONLY ?? '')
      .split(',')
      .map((word) => word.trim())
      .filter((word) => word !== '');
    for (const [name, load] of sections) {
      if (
        only.length > 0 &&
        !only.some((word) => (word.startsWith('=') ? name === word.slice(1) : name.startsWith(word)))
      )
        continue;
      const copy = path.join(root, name);
      try {
        const run = load();
        if (!run) {
          print(formatSection(name, ['(skipped: its module is not there yet)']));
          continue;
        }
        const { ms: copyMs } = measure(() => copyCollection(template, copy));
        const sectionStart = process.hrtime.bigint();
        const lines = await run(copy);
        const ms = Number(process.hrtime.bigint() - sectionStart) / 1e6;
        print(formatSection(`${name} (${formatMs(ms)}, fresh copy ${formatMs(copyMs)})`, lines));
      } catch (err) {
        failed++;
        print(formatSection(`${name}: FAILED`, String((err as Error).stack ?? err).split('\n')));
      } finally {
        fs.rmSync(copy, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  const totalMs = Number(process.hrtime.bigint() - started) / 1e6;
  print(`bench finished in ${formatMs(totalMs)}${failed > 0 ? `; ${failed} section(s) FAILED` : ''}`);
  return failed > 0 ? 1 : 0;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${String((err as Error).stack ?? err)}\n`);
    process.exitCode = 1;
  },
);
