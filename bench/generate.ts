/**
 * A synthetic collection in SkillMeat's exact layout, deterministic from a seed: skills are folders
 * (`SKILL.md` with YAML front matter, `ref/`, `scripts/` with an executable `run.sh`, `examples/`),
 * commands and agents single `.md` files, every file 1–6 KB. `collection.toml` and `collection.lock`
 * are written through the core (half the artifacts from GitHub, half local) with the lock's content
 * hashes computed by the core's `contentHash`, so the result reads `clean`.
 * 1,000 skills + 500 commands + 500 agents ≈ 11,000 files, ≈ 38 MiB.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArtifactKey, ArtifactType } from '../src/core/model/artifact.js';
import { contentHash } from '../src/core/model/hash.js';
import { emptyLock, LOCK_FILE, serializeLock, setEntry } from '../src/core/model/lock.js';
import { addArtifact, MANIFEST_FILE, newManifest, serializeManifest } from '../src/core/model/manifest.js';
import { naiveUtcNow } from '../src/core/base/time.js';

export interface GenerateOptions {
  skills?: number;
  commands?: number;
  agents?: number;
  seed?: number;
}

export interface GeneratedCollection {
  dir: string;
  artifacts: number;
  files: number;
  bytes: number;
  /** Collection-relative paths of the skills, in manifest order (handy for picking one to edit). */
  skillPaths: string[];
}

/** The full-size collection of DESIGN §9: 1,000 skills, 500 commands, 500 agents (≈ 11k files). */
export function generateCollection(dir: string, options: GenerateOptions = {}): GeneratedCollection {
  const { skills = 1000, commands = 500, agents = 500, seed = 1 } = options;
  const rng = new Random(seed);
  const text = new TextSource(rng);
  const created = new Date(Date.UTC(2025, 0, 2, 10, 0, 0));
  const manifest = newManifest('bench', naiveUtcNow(created));
  const lock = emptyLock();
  let files = 0;
  let bytes = 0;
  const skillPaths: string[] = [];

  const write = (rel: string, content: string, mode = 0o644): void => {
    const abs = path.join(dir, rel);
    fs.writeFileSync(abs, content, { mode });
    files++;
    bytes += Buffer.byteLength(content);
  };
  for (const folder of ['skills', 'commands', 'agents', 'workflows'])
    fs.mkdirSync(path.join(dir, folder), { recursive: true });

  const plan: { key: ArtifactKey; rel: string }[] = [];
  for (let i = 0; i < skills; i++) {
    const name = artifactName(rng, i);
    const rel = `skills/${name}`;
    fs.mkdirSync(path.join(dir, rel, 'ref'), { recursive: true });
    fs.mkdirSync(path.join(dir, rel, 'scripts'));
    fs.mkdirSync(path.join(dir, rel, 'examples'));
    write(`${rel}/SKILL.md`, text.skillMd(name));
    for (const file of pickNames(rng, REF_NAMES, rng.int(3, 5)))
      write(`${rel}/ref/${file}.md`, text.markdown(title(file)));
    write(`${rel}/scripts/run.sh`, text.shell(name), 0o755);
    for (const file of pickNames(rng, SCRIPT_NAMES, rng.int(1, 3)))
      write(`${rel}/scripts/${file}`, text.code(file));
    for (const file of pickNames(rng, EXAMPLE_NAMES, rng.int(1, 3)))
      write(`${rel}/examples/${file}`, text.example(file));
    plan.push({ key: { name, type: 'skill' }, rel });
    skillPaths.push(rel);
  }
  for (const [type, folder, count] of [
    ['command', 'commands', commands],
    ['agent', 'agents', agents],
  ] as [ArtifactType, string, number][]) {
    for (let i = 0; i < count; i++) {
      const name = artifactName(rng, i);
      const rel = `${folder}/${name}.md`;
      write(rel, type === 'agent' ? text.agentMd(name) : text.commandMd(name));
      plan.push({ key: { name, type }, rel });
    }
  }

  plan.forEach(({ key, rel }, index) => {
    const added = naiveUtcNow(new Date(created.getTime() + index * 60_000));
    const fetched = naiveUtcNow(new Date(created.getTime() + index * 60_000 + 1_500));
    const hash = contentHash(path.join(dir, rel));
    const description = text.sentence();
    if (index % 2 === 0) {
      const sha = rng.hex(40);
      const version = `v${rng.int(0, 3)}.${rng.int(0, 12)}.${rng.int(0, 30)}`;
      const upstream = `https://github.com/${rng.pick(OWNERS)}/${rng.pick(REPOS)}/tree/${sha}/${rel}`;
      const entry = addArtifact(manifest, key, {
        path: rel,
        origin: 'github',
        added,
        upstream,
        version_spec: index % 3 === 0 ? version : 'latest',
        resolved_sha: sha,
        resolved_version: version,
        last_updated: fetched,
      });
      entry.raw.tags = pickNames(rng, TAGS, rng.int(1, 3));
      entry.raw.metadata = { title: title(key.name), description, author: rng.pick(OWNERS), license: 'MIT' };
      setEntry(lock, key, {
        content_hash: hash,
        fetched,
        upstream,
        resolved_sha: sha,
        resolved_version: version,
      });
    } else {
      const entry = addArtifact(manifest, key, { path: rel, origin: 'local', added });
      entry.raw.metadata = { title: title(key.name), description };
      setEntry(lock, key, { content_hash: hash, fetched });
    }
  });
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), serializeManifest(manifest));
  fs.writeFileSync(path.join(dir, LOCK_FILE), serializeLock(lock));
  return { dir, artifacts: plan.length, files: files + 2, bytes, skillPaths };
}

/** The small collection of DESIGN §9: 100 skills, 50 commands, 50 agents (≈ 1.1k files). */
export function generateSmall(dir: string, seed = 1): GeneratedCollection {
  return generateCollection(dir, { skills: 100, commands: 50, agents: 50, seed });
}

/** mulberry32: tiny, fast, and the same sequence on every platform. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)] as T;
  }
  hex(length: number): string {
    let out = '';
    while (out.length < length)
      out += Math.floor(this.next() * 0x10000)
        .toString(16)
        .padStart(4, '0');
    return out.slice(0, length);
  }
}

const WORDS = (
  'the a skill agent command file folder collection manifest lock hash update merge snapshot restore review ' +
  'extract convert summarize table chart report invoice contract pdf markdown json yaml csv schema query ' +
  'database index cache token prompt context window model tool call result error retry timeout limit batch ' +
  'stream parse render format lint test build deploy release version branch commit diff patch upstream local ' +
  'user team project workspace editor terminal shell script python node bash input output path name value ' +
  'when then with without before after every each only never always first last next previous safe quick ' +
  'careful clear short long small large simple complex useful common rare exact partial full empty valid ' +
  'use run read write check keep skip send return create delete rename move copy open close start stop ' +
  'should must may can will would could does is are was be has have of to in on for from by at as and or'
).split(' ');
const OWNERS = [
  'acme',
  'anthropics',
  'skillsmith',
  'devtools-co',
  'paperwork-labs',
  'octo-org',
  'mlops-team',
];
const REPOS = ['agent-kit', 'claude-skills', 'awesome-skills', 'toolbox', 'prompts', 'workflows'];
const TAGS = ['docs', 'pdf', 'data', 'review', 'git', 'testing', 'writing', 'ops', 'security', 'design'];
const REF_NAMES = ['api', 'examples', 'forms', 'reference', 'troubleshooting', 'advanced', 'glossary', 'faq'];
const SCRIPT_NAMES = ['extract.py', 'convert.py', 'helpers.js', 'validate.py', 'lib.sh', 'schema.json'];
const EXAMPLE_NAMES = ['basic.md', 'advanced.md', 'input.json', 'output.json', 'config.yaml', 'sample.csv'];
const NAME_PARTS = [
  'pdf',
  'docx',
  'xlsx',
  'git',
  'review',
  'deploy',
  'lint',
  'test',
  'data',
  'chart',
  'api',
  'sql',
];
const NAME_SUFFIX = ['tools', 'helper', 'runner', 'writer', 'checker', 'builder', 'expert', 'guide', 'kit'];

function artifactName(rng: Random, index: number): string {
  return `${rng.pick(NAME_PARTS)}-${rng.pick(NAME_SUFFIX)}-${String(index).padStart(4, '0')}`;
}

function pickNames(rng: Random, list: readonly string[], count: number): string[] {
  const pool = [...list];
  const out: string[] = [];
  while (out.length < count && pool.length > 0)
    out.push(pool.splice(Math.floor(rng.next() * pool.length), 1)[0] as string);
  return out.sort();
}

function title(name: string): string {
  const words = name.replace(/\.[a-z]+$/, '').split(/[-_]/);
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

/** Text that looks like real skill content, assembled from a pool of pre-built sentences (fast). */
class TextSource {
  private readonly sentences: string[] = [];
  constructor(private readonly rng: Random) {
    for (let i = 0; i < 4096; i++) {
      const words: string[] = [];
      const length = rng.int(6, 18);
      for (let w = 0; w < length; w++) words.push(rng.pick(WORDS));
      const first = words[0] as string;
      words[0] = first.charAt(0).toUpperCase() + first.slice(1);
      this.sentences.push(`${words.join(' ')}.`);
    }
  }
  sentence(): string {
    return this.rng.pick(this.sentences);
  }
  /** A target size of 1–6 KB. */
  private size(): number {
    return this.rng.int(1024, 6144);
  }
  private paragraph(): string {
    const parts: string[] = [];
    for (let i = this.rng.int(2, 5); i > 0; i--) parts.push(this.sentence());
    return parts.join(' ');
  }
  private body(target: number, out: string[], used: number): void {
    let length = used;
    let section = 1;
    while (length < target) {
      const kind = this.rng.next();
      let block: string;
      if (kind < 0.15) block = `## ${title(this.rng.pick(REF_NAMES))} ${section++}`;
      else if (kind < 0.3) block = [1, 2, 3].map(() => `- ${this.sentence()}`).join('\n');
      else if (kind < 0.38)
        block = `\`\`\`bash\n${this.rng.pick(WORDS)} --${this.rng.pick(WORDS)} ${this.rng.pick(WORDS)}.md\n\`\`\``;
      else block = this.paragraph();
      out.push(block, '');
      length += block.length + 1;
    }
  }
  markdown(heading: string): string {
    const out = [`# ${heading}`, ''];
    this.body(this.size(), out, heading.length + 3);
    return out.join('\n');
  }
  skillMd(name: string): string {
    const out = [
      '---',
      `name: ${name}`,
      `description: ${this.sentence()}`,
      '---',
      '',
      `# ${title(name)}`,
      '',
    ];
    out.push('## When to use', '', this.paragraph(), '', '## Instructions', '');
    this.body(this.size(), out, out.join('\n').length);
    return out.join('\n');
  }
  commandMd(name: string): string {
    const out = [
      '---',
      `description: ${this.sentence()}`,
      'argument-hint: [path]',
      '---',
      '',
      `# /${name}`,
      '',
    ];
    this.body(this.size(), out, out.join('\n').length);
    return out.join('\n');
  }
  agentMd(name: string): string {
    const out = [
      '---',
      `name: ${name}`,
      `description: ${this.sentence()}`,
      'tools: Read, Grep, Glob, Bash',
      '---',
      '',
    ];
    this.body(this.size(), out, out.join('\n').length);
    return out.join('\n');
  }
  shell(name: string): string {
    const out = ['#!/usr/bin/env bash', `# ${name}: ${this.sentence()}`, 'set -euo pipefail', ''];
    const target = this.size();
    let length = out.join('\n').length;
    for (let i = 0; length < target; i++) {
      const line = `step_${i}() {\n  # ${this.sentence()}\n  echo "${this.sentence()}"\n}\n`;
      out.push(line);
      length += line.length + 1;
    }
    return out.join('\n');
  }
  code(file: string): string {
    if (file.endsWith('.json')) return this.example(file);
    const comment = file.endsWith('.js') ? '//' : '#';
    const out = [`${comment} ${file}: ${this.sentence()}`, ''];
    const target = this.size();
    let length = out[0]?.length ?? 0;
    for (let i = 0; length < target; i++) {
      const line = file.endsWith('.js')
        ? `function step${i}(input) {\n  // ${this.sentence()}\n  return input.${this.rng.pick(WORDS)} ?? null;\n}\n`
        : `def step_${i}(data):\n    ${comment} ${this.sentence()}\n    return data.get("${this.rng.pick(WORDS)}")\n\n`;
      out.push(line);
      length += line.length + 1;
    }
    return out.join('\n');
  }
  example(file: string): string {
    const target = this.size();
    if (file.endsWith('.md')) return this.markdown(title(file));
    const lines: string[] = [];
    let length = 0;
    for (let i = 0; length < target; i++) {
      const key = `${this.rng.pick(WORDS)}_${i}`;
      const value = this.sentence();
      const line = file.endsWith('.json')
        ? `  "${key}": "${value}",`
        : file.endsWith('.csv')
          ? `${i},${key},"${value}"`
          : `${key}: "${value}"`;
      lines.push(line);
      length += line.length + 1;
    }
    if (file.endsWith('.json')) return `{\n${lines.join('\n').replace(/,$/, '')}\n}\n`;
    if (file.endsWith('.csv')) return `id,key,value\n${lines.join('\n')}\n`;
    return `${lines.join('\n')}\n`;
  }
}
