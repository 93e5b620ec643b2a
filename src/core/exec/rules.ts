/**
 * The executable surface of one file change (DESIGN §11), pure: does the new version add or alter
 * something that runs? Hook scripts, hook entries in `settings.json`, MCP servers' `command`/`args`/`env`
 * (`.mcp.json`, any JSON with `mcpServers`, the manifest's `[[mcp_servers]]`), a file that becomes
 * executable or gains a shebang, a skill's `scripts/`, `allowed-tools` that grant Bash, and lines that
 * fetch and run code (`curl … | sh`), `eval` it, or run decoded text (`base64 -d | bash`). Each finding
 * names the file, the line (1-based, where one is meaningful) and why.
 *
 * Only what the change adds counts: a line already in the old version, a hook command already there, a
 * server unchanged, is not a finding again. In Markdown only code a person or Claude would run counts:
 * fenced code blocks and Claude Code's `!`-commands; prose that mentions `curl | sh` does not.
 */
import { parseToml } from '../model/toml.js';

export type ExecRule =
  | 'hook-file'
  | 'settings-hook'
  | 'mcp-server'
  | 'exec-bit'
  | 'shebang'
  | 'skill-script'
  | 'allowed-bash'
  | 'fetch-and-run'
  | 'eval'
  | 'decode-and-run';

export interface RuleFinding {
  /** The file's path in the store it goes to (collection- or profile-relative, `/`-separated). */
  file: string;
  line?: number;
  rule: ExecRule;
  why: string;
}

/** One version of a file: its bytes and mode (a symlink's bytes are its target). */
export interface FileVersion {
  readonly data: Buffer;
  mode: number;
  /** A large file kept on disk (model/largeFiles.ts): its size is known without reading it. */
  readonly disk?: { readonly size: number };
}

const MAX_TEXT = 4 * 1024 * 1024;
/** Files whose lines run (scripts) or name commands to run (configuration); prose files are not read. */
const SCRIPT_NAME =
  /\.(sh|bash|zsh|fish|ksh|py|pyw|js|mjs|cjs|ts|mts|cts|rb|pl|php|ps1|psm1|bat|cmd|lua|tcl|applescript|json|jsonc|toml|ya?ml|mk|makefile)$|^(makefile|justfile|dockerfile)$/i;

/** Every finding for `file` going from `before` (absent when it is new) to `after`. */
export function classifyFile(
  file: string,
  before: FileVersion | undefined,
  after: FileVersion,
): RuleFinding[] {
  if ((after.mode & 0o170000) === 0o120000) return []; // a symlink runs nothing by itself
  const found: RuleFinding[] = [];
  const add = (rule: ExecRule, why: string, line?: number): void => {
    found.push({ file, ...(line !== undefined ? { line } : {}), rule, why });
  };
  const segments = file.split('/');
  const name = segments[segments.length - 1] ?? '';
  if (segments.slice(0, -1).includes('hooks'))
    add(
      'hook-file',
      before
        ? 'a hook script changed: Claude Code runs hooks on tool events'
        : 'a new hook script: Claude Code runs hooks on tool events',
    );
  if (after.mode & 0o111 && !(before && before.mode & 0o111))
    add('exec-bit', before ? 'the file becomes executable' : 'a new executable file');
  const text = textOf(after);
  const old = before ? textOf(before) : undefined;
  if (text === undefined) return found;
  if (text.startsWith('#!') && !old?.startsWith('#!'))
    add('shebang', `starts with a shebang (${firstLine(text)})`, 1);
  if (segments.slice(0, -1).includes('scripts') && old !== text)
    add(
      'skill-script',
      before
        ? 'a script the skill tells Claude to run changed'
        : 'a new script the skill tells Claude to run',
    );
  if (/^settings(\.local)?\.json$/.test(name)) found.push(...settingsHooks(file, old, text));
  if (name.endsWith('.json')) found.push(...mcpServersInJson(file, old, text));
  if (file === 'collection.toml') found.push(...mcpServersInManifest(file, old, text));
  if (name.endsWith('.md')) found.push(...allowedBash(file, old, text));
  const markdown = name.endsWith('.md');
  if (
    markdown ||
    text.startsWith('#!') ||
    SCRIPT_NAME.test(name) ||
    (!name.includes('.') && found.length > 0)
  )
    found.push(...runnableLines(file, old, text, markdown));
  return found;
}

function textOf(version: FileVersion): string | undefined {
  // A large file is read only when it may be text a person could run.
  if (version.disk && version.disk.size > MAX_TEXT) return undefined;
  const data = version.data;
  if (data.length > MAX_TEXT || data.subarray(0, 8000).includes(0)) return undefined;
  return data.toString('utf8');
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 80);
}

/** The 1-based line of the first occurrence of `needle`, if any. */
function lineOf(text: string, needle: string): number | undefined {
  const at = text.indexOf(needle);
  return at < 0 ? undefined : text.slice(0, at).split('\n').length;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every `command` string below `value` (the shape of Claude Code's `hooks`). */
function commandsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) commandsIn(item, out);
  else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (key === 'command' && typeof item === 'string') out.push(item);
      else commandsIn(item, out);
    }
  }
  return out;
}

function settingsHooks(file: string, old: string | undefined, text: string): RuleFinding[] {
  const parsed = parseJson(text);
  if (parsed === undefined) {
    if (!/"hooks"/.test(text) || old === text) return [];
    return [
      {
        file,
        line: lineOf(text, '"hooks"'),
        rule: 'settings-hook',
        why: 'hook entries that are not valid JSON',
      },
    ];
  }
  const hooks = isObject(parsed) ? parsed['hooks'] : undefined;
  if (hooks === undefined) return [];
  const before = new Set(
    commandsIn(isObject(parseJson(old)) ? (parseJson(old) as Record<string, unknown>)['hooks'] : undefined),
  );
  return commandsIn(hooks)
    .filter((command) => !before.has(command))
    .map((command) => ({
      file,
      ...lineAt(text, JSON.stringify(command)),
      rule: 'settings-hook' as const,
      why: `a hook runs \`${shorten(command)}\` on tool events`,
    }));
}

function lineAt(text: string, needle: string): { line?: number } {
  const line = lineOf(text, needle);
  return line === undefined ? {} : { line };
}

function shorten(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 100 ? `${one.slice(0, 97)}…` : one;
}

interface ServerRun {
  command?: unknown;
  args?: unknown;
  env?: unknown;
}

function serverRuns(servers: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!isObject(servers)) return out;
  for (const [name, server] of Object.entries(servers)) {
    if (!isObject(server)) continue;
    const run: ServerRun = server;
    if (run.command === undefined && run.args === undefined && run.env === undefined) continue;
    out.set(name, JSON.stringify([run.command ?? null, run.args ?? null, run.env ?? null]));
  }
  return out;
}

function describeServer(run: string): string {
  const [command, args] = JSON.parse(run) as [unknown, unknown];
  const argv = Array.isArray(args) ? args.map(String).join(' ') : '';
  return shorten(`${typeof command === 'string' ? command : ''} ${argv}`);
}

function mcpServersInJson(file: string, old: string | undefined, text: string): RuleFinding[] {
  const parsed = parseJson(text);
  if (!isObject(parsed) || !isObject(parsed['mcpServers'])) return [];
  const oldParsed = parseJson(old);
  const before = serverRuns(isObject(oldParsed) ? oldParsed['mcpServers'] : undefined);
  return changedServers(file, before, serverRuns(parsed['mcpServers']), (name) =>
    lineAt(text, JSON.stringify(name)),
  );
}

function changedServers(
  file: string,
  before: Map<string, string>,
  after: Map<string, string>,
  where: (name: string) => { line?: number },
): RuleFinding[] {
  const found: RuleFinding[] = [];
  for (const [name, run] of after) {
    if (before.get(name) === run) continue;
    const verb = before.has(name) ? 'now runs' : 'runs';
    found.push({
      file,
      ...where(name),
      rule: 'mcp-server',
      why: `MCP server "${name}" ${verb} \`${describeServer(run)}\``,
    });
  }
  return found;
}

function manifestServers(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (text === undefined) return out;
  let servers: unknown;
  try {
    servers = parseToml(text, 'collection.toml')['mcp_servers'];
  } catch {
    return out;
  }
  if (!Array.isArray(servers)) return out;
  const byName: Record<string, unknown> = {};
  for (const server of servers)
    if (isObject(server) && typeof server['name'] === 'string') byName[server['name']] = server;
  return serverRuns(byName);
}

function mcpServersInManifest(file: string, old: string | undefined, text: string): RuleFinding[] {
  return changedServers(file, manifestServers(old), manifestServers(text), (name) =>
    lineAt(text, `name = ${JSON.stringify(name)}`),
  );
}

/** `allowed-tools` (skills, commands) or `tools` (agents) in the front matter, when they grant Bash. */
function allowedBash(file: string, old: string | undefined, text: string): RuleFinding[] {
  const grant = bashGrant(text);
  if (!grant || grant.value === bashGrant(old ?? '')?.value) return [];
  return [
    {
      file,
      line: grant.line,
      rule: 'allowed-bash',
      why: `lets Claude run shell commands without asking (${shorten(grant.value)})`,
    },
  ];
}

function bashGrant(text: string): { value: string; line: number } | undefined {
  const lines = text.split('\n');
  if (lines[0]?.trim() !== '---') return undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '---') return undefined;
    const match = /^(allowed-tools|allowed_tools|tools)\s*:\s*(.*)$/.exec(line);
    if (!match) continue;
    // A YAML list may follow on the next lines.
    let value = match[2] ?? '';
    for (let j = i + 1; j < lines.length && /^\s*-\s/.test(lines[j] ?? ''); j++)
      value += ` ${(lines[j] ?? '').trim()}`;
    return /\bbash\b/i.test(value) ? { value: value.trim(), line: i + 1 } : undefined;
  }
  return undefined;
}

/**
 * Lines that fetch and run, `eval`, or decode and run, among the lines the change adds. In Markdown only
 * fenced code and `!`-commands are read.
 */
function runnableLines(
  file: string,
  old: string | undefined,
  text: string,
  markdown: boolean,
): RuleFinding[] {
  const oldLines = new Map<string, number>();
  for (const line of old === undefined ? [] : runnable(old, markdown)) {
    oldLines.set(line.text, (oldLines.get(line.text) ?? 0) + 1);
  }
  const found: RuleFinding[] = [];
  for (const { text: line, number } of runnable(text, markdown)) {
    const left = oldLines.get(line) ?? 0;
    if (left > 0) {
      oldLines.set(line, left - 1);
      continue;
    }
    const hit = lineRule(line);
    if (hit) found.push({ file, line: number, rule: hit.rule, why: `${hit.why}: \`${shorten(line)}\`` });
  }
  return found;
}

function runnable(text: string, markdown: boolean): { text: string; number: number }[] {
  const lines = text.split('\n');
  if (!markdown) return lines.map((line, i) => ({ text: line, number: i + 1 }));
  const out: { text: string; number: number }[] = [];
  let fence: string | undefined;
  lines.forEach((line, i) => {
    const opener = /^\s*(`{3,}|~{3,})/.exec(line);
    if (opener) {
      const mark = opener[1] as string;
      if (fence === undefined) fence = mark[0] as string;
      else if (mark[0] === fence) fence = undefined;
      return;
    }
    if (fence !== undefined) out.push({ text: line, number: i + 1 });
    else {
      // Claude Code runs !`command` in a command's body before the prompt is sent.
      for (const match of line.matchAll(/!`([^`]+)`/g)) out.push({ text: match[1] as string, number: i + 1 });
    }
  });
  return out;
}

const SHELLS = String.raw`(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:\S*/)?(?:ba|z|da|k|c|tc|fi)?sh|python[0-9.]*|perl|ruby|node|php|iex|invoke-expression|pwsh|powershell|osascript`;
const FETCHERS = String.raw`curl|wget|fetch|aria2c|iwr|irm|invoke-webrequest|invoke-restmethod|downloadstring|urlopen|requests\.get|http\.get|nc|ncat|openssl\s+s_client`;
const RULES: { rule: ExecRule; why: string; pattern: RegExp }[] = [
  {
    rule: 'decode-and-run',
    why: 'runs decoded text',
    pattern: new RegExp(
      String.raw`(?:base64\s+(?:-d|--decode|-D)|b64decode|frombase64string|xxd\s+-r|openssl\s+(?:enc\s+)?(?:-d\b|base64\s+-d)|\\x[0-9a-f]{2}(?:\\x[0-9a-f]{2}){3}|rev\s*\||tr\s+[a-z-]+\s+[a-z-]+\s*\|).*(?:\|\s*(?:${SHELLS})\b|\b(?:exec|eval|system|iex|invoke-expression)\b)|\b(?:exec|eval|system)\s*\(.*(?:b64decode|frombase64|decode\(|codecs\.decode|unhexlify)`,
    ),
  },
  {
    rule: 'fetch-and-run',
    why: 'fetches code and runs it',
    pattern: new RegExp(
      String.raw`\b(?:${FETCHERS})\b.*\|\s*(?:${SHELLS})\b|(?:${SHELLS}|source|\.)\s+(?:-\S+\s+)*<\(\s*(?:${FETCHERS})\b|(?:${SHELLS})\s+(?:-\S+\s+)*-c\s*\$\(\s*(?:${FETCHERS})\b|\b(?:iex|invoke-expression)\b.*\b(?:${FETCHERS})\b|\b(?:${FETCHERS})\b.*(?:&&|;)\s*(?:chmod\s+\+x|(?:${SHELLS})\s+\S)|\b(?:exec|eval)\s*\(.*\b(?:urlopen|requests\.get|fetch|http\.get)\b`,
    ),
  },
  {
    rule: 'fetch-and-run',
    why: 'pipes generated text into a shell',
    pattern: new RegExp(String.raw`\|\s*(?:sudo\s+)?(?:\S*/)?(?:ba|z|da|k)?sh(?:\s+-s?)?\s*$`),
  },
  { rule: 'eval', why: 'evaluates text as code', pattern: /(?:^|[\s;&|(`])eval\s*(?:\(|\$|`|\s+\S)/ },
];

/** The rule a line breaks, read as a shell would after quotes and escapes that only obfuscate are gone. */
export function lineRule(line: string): { rule: ExecRule; why: string } | undefined {
  const plain = normaliseLine(line);
  if (plain.length === 0 || plain.startsWith('#') || plain.startsWith('//')) return undefined;
  for (const { rule, why, pattern } of RULES) if (pattern.test(plain)) return { rule, why };
  return undefined;
}

function normaliseLine(line: string): string {
  return line
    .replace(/\$\{?IFS\}?/g, ' ')
    .replace(/(?<![\\])(['"])\1/g, '') // c''url, c""url
    .replace(/\\(?=[a-z])/gi, (m, offset: number, s: string) => (s[offset + 1] === 'x' ? m : '')) // \c\u\r\l, keep \xNN
    .replace(/['"]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}
