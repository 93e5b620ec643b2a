/**
 * Test fixtures for the collection core: the SkillMeat-written collection copied into a temp folder,
 * small collections built from a file map, and the CLI run as a real child process.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

/** The repo root, found from the compiled test file (out/test/unit/support → four levels up). */
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const SHARED_FIXTURES = path.resolve(REPO_ROOT, '../shared/fixtures');
export const CLI = path.join(REPO_ROOT, 'out/src/cli/main.js');

const made: string[] = [];
after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'ak-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A writable copy of `../shared/fixtures/<name>` (the originals are read-only). */
export function copySharedFixture(name = 'skillmeat-written'): string {
  const dir = path.join(tempDir(), name);
  fs.cpSync(path.join(SHARED_FIXTURES, name), dir, { recursive: true });
  makeWritable(dir);
  return dir;
}

function makeWritable(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    fs.chmodSync(abs, fs.statSync(abs).mode | 0o200);
    if (entry.isDirectory()) makeWritable(abs);
  }
  fs.chmodSync(dir, fs.statSync(dir).mode | 0o200);
}

export { writeTree } from '../../support/files.js';

/**
 * Every file and folder below `root` (minus .artifact-keeper) with content and mode: for exact-tree
 * assertions. Read as bytes, so a name that is not UTF-8 is listed (as `<hex>`) rather than lost.
 */
export function treeListing(
  root: string,
  skip: ReadonlySet<string> = new Set(['.artifact-keeper']),
): string[] {
  const out: string[] = [];
  const shown = (bytes: Buffer): string => {
    const text = bytes.toString('utf8');
    return Buffer.from(text).equals(bytes) ? text : `<${bytes.toString('hex')}>`;
  };
  const visit = (dir: Buffer, rel: string): void => {
    const entries = fs
      .readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })
      .map((entry) => ({ entry, name: shown(entry.name) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const { entry, name } of entries) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (skip.has(childRel)) continue;
      const abs = Buffer.concat([dir, Buffer.from('/'), entry.name]);
      const st = fs.lstatSync(abs);
      if (entry.isSymbolicLink())
        out.push(`L ${childRel} -> ${shown(fs.readlinkSync(abs, { encoding: 'buffer' }))}`);
      else if (entry.isDirectory()) {
        out.push(`D ${childRel}`);
        visit(abs, childRel);
      } else {
        const hash = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
        out.push(`F ${childRel} ${(st.mode & 0o777).toString(8)} ${hash}`);
      }
    }
  };
  visit(Buffer.from(path.resolve(root)), '');
  return out;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI as a child process, as a user or CI would. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: { ...process.env, ...options.env },
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * A new collection (`init` in a temp folder) holding the artifacts `specs` names, each added through the
 * CLI (`add …addFlags SPEC`); throws with the CLI's message when a step fails.
 */
export function collectionWith(specs: readonly string[], addFlags: readonly string[] = []): string {
  const dir = path.join(tempDir(), 'collection');
  for (const args of [['init'], ...specs.map((spec) => ['add', ...addFlags, spec])]) {
    const r = runCli([...args, '--collection', dir]);
    if (r.code !== 0) throw new Error(`artifact-keeper ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }
  return dir;
}

/** A counter from the CLI's `ARTIFACT_KEEPER_TRACE=1` output (0 when it is not there). */
export function traceCount(stderr: string, name: string): number {
  const line = stderr.split('\n').find((l) => l.startsWith(`artifact-keeper trace: count ${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
