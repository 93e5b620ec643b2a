/**
 * `collection.lock`: `[lock] version = "1.0.0"` and one `[lock.entries."NAME::TYPE"]` table per
 * artifact. Like the manifest, the raw document is kept so unknown keys and entries survive a rewrite.
 * An unknown lock version is refused rather than guessed at.
 */
import { lockKey, parseLockKey } from './artifact.js';
import type { ArtifactKey } from './artifact.js';
import { CoreError } from '../base/errors.js';
import { lineOfKey, MANIFEST_FILE, reorder } from './manifest.js';
import { copyFloatMarks, isTable, parseToml, serializeToml } from './toml.js';
import type { TomlTable } from './toml.js';

export const LOCK_FILE = 'collection.lock';

/**
 * The collection's two documents. Dotfiles setups may make either a symlink to a file elsewhere: the
 * snapshot store keeps the content behind the link and the transaction engine writes through it.
 */
export const LINKED_DOCUMENTS: ReadonlySet<string> = new Set([MANIFEST_FILE, LOCK_FILE]);
export const LOCK_VERSION = '1.0.0';

export interface LockEntry {
  /** The raw key, `NAME::TYPE`. */
  key: string;
  name: string;
  type: string;
  contentHash: string;
  fetched?: string;
  upstream?: string;
  resolvedSha?: string;
  resolvedVersion?: string;
  /**
   * An update committed with conflicts left in the files (markers, `<file>.upstream`): `conflicted =
   * true` until `resolve` or `update --abort`. SkillMeat ignores the key and still reads the entry.
   */
  conflicted?: boolean;
  raw: TomlTable;
}

export interface Lock {
  raw: TomlTable;
  version: string;
  entries: Map<string, LockEntry>;
}

const ENTRY_KEY_ORDER = [
  'content_hash',
  'fetched',
  'upstream',
  'resolved_sha',
  'resolved_version',
  'conflicted',
];

export function emptyLock(): Lock {
  return { raw: { lock: { version: LOCK_VERSION, entries: {} } }, version: LOCK_VERSION, entries: new Map() };
}

/** A missing lock file reads as "no entries", as in SkillMeat. */
export function parseLock(
  bytes: Uint8Array | string | undefined,
  file = LOCK_FILE,
  parse: (bytes: Uint8Array | string, file: string) => TomlTable = parseToml,
): Lock {
  if (bytes === undefined) return emptyLock();
  // Decoded only when needed: to tell a blank file (which starts with whitespace or a BOM), or to find
  // the line of an error. A 2,000-artifact lock is half a megabyte.
  let decoded: string | undefined;
  const text = (): string =>
    (decoded ??=
      typeof bytes === 'string'
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  if (mayBeBlank(bytes) && text().trim() === '') return emptyLock();
  const raw = parse(bytes, file);
  // As in the manifest, line numbers are looked up only for an error.
  const invalid = (reason: string, line?: () => number | undefined, artifact?: string): CoreError => {
    const at = line?.();
    return new CoreError({
      code: 'lock-invalid',
      file,
      ...(at !== undefined ? { line: at } : {}),
      ...(artifact ? { artifact } : {}),
      reason,
    });
  };
  const lock = raw.lock;
  if (lock === undefined) {
    const withLock: TomlTable = { ...raw, lock: { version: LOCK_VERSION, entries: {} } };
    copyFloatMarks(raw, withLock);
    return { ...emptyLock(), raw: withLock };
  }
  if (!isTable(lock)) throw invalid('[lock] must be a table');
  const version = lock.version;
  if (version !== undefined && typeof version !== 'string') throw invalid('lock.version must be a string');
  if (version !== undefined && version !== LOCK_VERSION) {
    throw new CoreError({ code: 'lock-version-unsupported', file, version });
  }
  const entriesTable = lock.entries ?? {};
  if (!isTable(entriesTable)) throw invalid('lock.entries must be a table');
  const entries = new Map<string, LockEntry>();
  for (const [key, table] of Object.entries(entriesTable)) {
    const line = (): number | undefined => lineOfHeader(text(), key);
    const parts = parseLockKey(key);
    if (!parts) throw invalid(`entry "${key}" is not of the form NAME::TYPE`, line);
    const id = `${parts.type}/${parts.name}`;
    if (!isTable(table)) throw invalid(`entry "${key}" is not a table`, line, id);
    const hash = table.content_hash;
    if (typeof hash !== 'string') throw invalid(`entry "${key}" has no content_hash`, line, id);
    if (!/^[0-9a-f]{64}$/.test(hash)) throw invalid(`entry "${key}" has a malformed content_hash`, line, id);
    const str = (k: string): string | undefined =>
      typeof table[k] === 'string' ? (table[k] as string) : undefined;
    // Assigned one by one in this order, as in the manifest.
    const entry = { key, name: parts.name, type: parts.type, contentHash: hash } as LockEntry;
    const fetched = str('fetched');
    if (fetched !== undefined) entry.fetched = fetched;
    const upstream = str('upstream');
    if (upstream !== undefined) entry.upstream = upstream;
    const resolvedSha = str('resolved_sha');
    if (resolvedSha !== undefined) entry.resolvedSha = resolvedSha;
    const resolvedVersion = str('resolved_version');
    if (resolvedVersion !== undefined) entry.resolvedVersion = resolvedVersion;
    if (table.conflicted === true) entry.conflicted = true;
    entry.raw = table;
    entries.set(key, entry);
  }
  return { raw, version: version ?? LOCK_VERSION, entries };
}

export function serializeLock(lock: Lock): string {
  return serializeToml(lock.raw);
}

export function getEntry(lock: Lock, key: ArtifactKey): LockEntry | undefined {
  return lock.entries.get(lockKey(key));
}

export interface LockFields {
  content_hash: string;
  fetched: string;
  upstream?: string | undefined;
  resolved_sha?: string | undefined;
  resolved_version?: string | undefined;
  /** `true` marks the entry conflicted; anything else removes the key. */
  conflicted?: true | undefined;
}

/** Creates or updates an entry; `undefined` optional fields are removed, as SkillMeat omits nulls. */
export function setEntry(lock: Lock, key: ArtifactKey, fields: LockFields): LockEntry {
  const entriesTable = lockEntriesTable(lock);
  const k = lockKey(key);
  const raw = (entriesTable[k] as TomlTable | undefined) ?? {};
  const before = new Set(Object.keys(raw));
  for (const [field, value] of Object.entries({ conflicted: undefined, ...fields }) as [
    string,
    string | true | undefined,
  ][]) {
    if (value === undefined) delete raw[field];
    else raw[field] = value;
  }
  const added = Object.keys(raw).filter((f) => !before.has(f));
  const ordered = added.length > 0 ? reorder(raw, ENTRY_KEY_ORDER, added) : raw;
  entriesTable[k] = ordered;
  const entry: LockEntry = {
    key: k,
    name: key.name,
    type: key.type,
    contentHash: fields.content_hash,
    fetched: fields.fetched,
    ...opt('upstream', fields.upstream),
    ...opt('resolvedSha', fields.resolved_sha),
    ...opt('resolvedVersion', fields.resolved_version),
    ...(fields.conflicted ? { conflicted: true } : {}),
    raw: ordered,
  };
  lock.entries.set(k, entry);
  return entry;
}

export function deleteEntry(lock: Lock, key: ArtifactKey): void {
  const k = lockKey(key);
  delete lockEntriesTable(lock)[k];
  lock.entries.delete(k);
}

function lockEntriesTable(lock: Lock): TomlTable {
  if (!isTable(lock.raw.lock)) lock.raw.lock = { version: LOCK_VERSION };
  const section = lock.raw.lock as TomlTable;
  if (section.version === undefined) section.version = LOCK_VERSION;
  if (!isTable(section.entries)) section.entries = {};
  return section.entries as TomlTable;
}

/** False when the first character is not whitespace (nor a byte-order mark): then the file is not blank. */
function mayBeBlank(bytes: Uint8Array | string): boolean {
  const first = typeof bytes === 'string' ? bytes.charCodeAt(0) : bytes[0];
  if (first === undefined || Number.isNaN(first)) return true;
  return first === 0x20 || (first >= 0x09 && first <= 0x0d) || first >= 0x80;
}

function lineOfHeader(text: string, key: string): number | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.includes(`"${key}"`) && l.trimStart().startsWith('['));
  return at >= 0 ? at + 1 : lineOfKey(text, key);
}

function opt<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
