/**
 * The grammar of upstream sources, pure: the SOURCE text of `add` → a typed `Source`, the `upstream` string
 * written to the manifest and lock, and back. Everything that later becomes a git argument is checked here
 * first (no leading `-`, no `ext::`, no `..` in refs), so no user string can turn into a git option.
 *
 * Forms (DESIGN §7, skillmeat-format §6):
 * - a git URL (`https://`, `http://`, `ssh://`, `git://`, `file://`, scp-like `[user@]host:path`) or the path
 *   of a local git repository (bare or not), written `URL[@ref][#sub/path]` or `URL#sub/path[@ref]`.
 *   An `@` is a ref separator only after the path has started, so `git@host:` and `https://user@host/` are
 *   not refs; in `#path@ref` the ref is split at the last `@`.
 * - SkillMeat's GitHub shorthand `owner/repo[/path…][@ref]` (ref split at the last `@`, default `latest`),
 *   and `https://github.com/owner/repo[.git][/tree/<ref>/<path>]`, both as `{ kind: 'github' }`.
 * - a local folder (or single file) that is not a git repository.
 * A relative text names a local path when that path exists; otherwise it is read as GitHub shorthand.
 * `#` always starts the subpath, so a local path containing `#` cannot be named.
 */
import * as path from 'node:path';
import { CoreError } from '../base/errors.js';
import {
  CONTROL_CHARS,
  SCHEME_URL,
  TRANSPORT_HELPER,
  assertScheme,
  isScpLike,
  normaliseSubpath,
  redactCredentials,
  refProblem,
} from './sourceChecks.js';

export { assertSafeSource, normaliseSubpath, redactCredentials, refProblem } from './sourceChecks.js';

export interface GitSource {
  kind: 'git';
  /** The git URL, or the absolute path of a local repository. Never starts with `-`. */
  url: string;
  /** POSIX path inside the repository; '' is the repository root. */
  subpath: string;
  /** The version spec: 'latest', a tag, a branch, a full or short sha, or a full `refs/…` name. */
  ref: string;
}

export interface GithubSource {
  kind: 'github';
  owner: string;
  repo: string;
  /** Always `https://github.com/<owner>/<repo>.git`. */
  url: string;
  subpath: string;
  ref: string;
}

export interface FolderSource {
  kind: 'folder';
  /** Absolute path of a local folder (or single file) that is not a git repository. */
  path: string;
}

export type RemoteSource = GitSource | GithubSource;
export type Source = RemoteSource | FolderSource;

/** What a local path is; `parseSourceSpec` asks only about paths it would otherwise read differently. */
export type PathKind = 'git' | 'folder' | 'file' | 'missing';
export type PathProbe = (absolutePath: string) => PathKind;

export interface ParseSpecOptions {
  /** Folder that relative local paths are resolved against. */
  cwd: string;
  /** Expansion of a leading `~`. */
  home: string;
  probe: PathProbe;
}

export const DEFAULT_REF = 'latest';

const GITHUB_OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const GITHUB_REPO = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Parses a SOURCE as typed by a person. Pure apart from `probe`, which tells a local repository, folder or
 * file from a missing path. Throws CoreError `source-invalid`.
 */
export function parseSourceSpec(input: string, options: ParseSpecOptions): Source {
  const text = input.trim();
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: text, reason });
  if (text.length === 0) throw invalid('it is empty');
  if (CONTROL_CHARS.test(text)) throw invalid('it contains a control character');
  if (text.startsWith('-')) throw invalid('it starts with "-" (it would be read as a git option)');
  if (TRANSPORT_HELPER.test(text)) throw invalid('git transport helpers ("name::address") are refused');

  const hashAt = text.indexOf('#');
  const main = hashAt < 0 ? text : text.slice(0, hashAt);
  const fragment = hashAt < 0 ? undefined : text.slice(hashAt + 1);

  const scheme = SCHEME_URL.exec(main);
  if (scheme) return parseSchemeUrl(text, main, fragment, (scheme[1] ?? '').toLowerCase());
  if (isScpLike(main)) {
    const split = splitUrlRef(main, main.indexOf(':') + 1);
    return gitSource(text, split.url, fragment, split.ref);
  }
  return parseLocalOrShorthand(text, main, fragment, options);
}

/** The canonical SOURCE text of a parsed source; `parseSourceSpec(formatSource(s))` gives `s` back. */
export function formatSource(source: Source): string {
  switch (source.kind) {
    case 'folder':
      return source.path;
    case 'github': {
      const base = [source.owner, source.repo, ...(source.subpath ? [source.subpath] : [])].join('/');
      return source.ref === DEFAULT_REF ? base : `${base}@${source.ref}`;
    }
    case 'git': {
      const ref = source.ref === DEFAULT_REF ? '' : `@${source.ref}`;
      return `${source.url}${ref}${source.subpath ? `#${source.subpath}` : ''}`;
    }
  }
}

/** `formatSource` with any password or token in a URL's user part hidden, for logs and messages. */
export function displaySource(source: Source): string {
  return redactCredentials(formatSource(source));
}

/**
 * The manifest/lock `upstream` of an artifact fetched at `sha`: SkillMeat's
 * `https://github.com/<owner>/<repo>/tree/<sha>[/<path>]` for GitHub, `<url>[#<path>]` for any other git
 * source (the sha goes to `resolved_sha`, not into the URL).
 */
export function upstreamString(source: RemoteSource, sha: string): string {
  if (source.kind === 'github') {
    return `https://github.com/${source.owner}/${source.repo}/tree/${sha}${source.subpath ? `/${source.subpath}` : ''}`;
  }
  return source.subpath ? `${source.url}#${source.subpath}` : source.url;
}

/**
 * Rebuilds the source of an existing artifact from its manifest `upstream` and `version_spec`, so `check`
 * and `update` re-resolve the spec (not the recorded sha: SkillMeat ignores the sha in the /tree/ URL too).
 * Never touches the file system: a local repository that has gone away is reported when it is resolved.
 * Throws CoreError `source-invalid` for a string that could not have been written by us or SkillMeat.
 */
export function sourceFromUpstream(upstream: string, versionSpec?: string): RemoteSource {
  const text = upstream.trim();
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: text, reason });
  const ref = versionSpec === undefined || versionSpec.trim() === '' ? DEFAULT_REF : versionSpec.trim();
  if (text.length === 0) throw invalid('the upstream is empty');
  if (CONTROL_CHARS.test(text)) throw invalid('it contains a control character');
  if (text.startsWith('-')) throw invalid('it starts with "-" (it would be read as a git option)');
  if (TRANSPORT_HELPER.test(text)) throw invalid('git transport helpers ("name::address") are refused');

  const hashAt = text.indexOf('#');
  const url = hashAt < 0 ? text : text.slice(0, hashAt);
  const subpath = hashAt < 0 ? '' : text.slice(hashAt + 1);
  const github = githubUrlParts(url);
  if (github) {
    const parts = github.parts;
    const owner = parts[0] ?? '';
    const repo = stripGitSuffix(parts[1] ?? '');
    let treePath = '';
    if (parts.length > 2) {
      // SkillMeat: parts[2] is "tree", parts[3] the sha (ignored), the rest the path.
      if (parts[2] !== 'tree' && parts[2] !== 'blob')
        throw invalid('a GitHub upstream must have the form owner/repo/tree/<sha>/<path>');
      if (parts.length < 4) throw invalid('the GitHub upstream has no sha after /tree/');
      treePath = parts.slice(4).join('/');
    }
    if (treePath && subpath) throw invalid('the path is given twice');
    return githubSource(text, owner, repo, treePath || subpath, ref);
  }
  const scheme = SCHEME_URL.exec(url);
  if (scheme) assertScheme(text, (scheme[1] ?? '').toLowerCase());
  else if (!isScpLike(url) && !path.isAbsolute(url))
    throw invalid('a local upstream must be an absolute path');
  return gitSource(text, url, subpath, ref);
}

/**
 * The name an artifact gets when `--name` is absent (SkillMeat §1.6): the stem of the last path segment
 * (`commands/review.md` → `review`), else the repository name without `.git`; for a local folder or file,
 * the stem of its name. The caller still checks it with `nameProblem`.
 */
export function deriveName(source: Source): string {
  if (source.kind === 'folder') return stem(path.basename(source.path));
  if (source.subpath) return stem(source.subpath.split('/').pop() ?? '');
  if (source.kind === 'github') return stripGitSuffix(source.repo);
  return stripGitSuffix(lastUrlSegment(source.url));
}

/** SkillMeat's resolved_version heuristic: the ref counts as a version when it starts with `v` or contains `.`. */
export function versionFromRef(ref: string): string | undefined {
  if (ref.toLowerCase() === DEFAULT_REF) return undefined;
  return ref.startsWith('v') || ref.includes('.') ? ref : undefined;
}

// ---------------------------------------------------------------------------------------------------------

function parseSchemeUrl(text: string, main: string, fragment: string | undefined, scheme: string): Source {
  assertScheme(text, scheme);
  if (/\s/.test(main))
    throw new CoreError({ code: 'source-invalid', source: text, reason: 'the URL contains a space' });
  const afterScheme = main.indexOf('://') + 3;
  // file:///path has an empty authority; for the others the path starts at the first "/" after the host.
  const slash = main.indexOf('/', afterScheme);
  const pathStart = scheme === 'file' ? afterScheme : slash < 0 ? main.length : slash;
  const split = splitUrlRef(main, pathStart);
  const github = githubUrlParts(split.url);
  if (github && (scheme === 'https' || scheme === 'http')) {
    const parts = github.parts;
    let ref = split.ref;
    let treePath = '';
    if (parts.length > 2) {
      // A pasted browser URL: /tree/<ref>/<path> (a branch name with "/" cannot be told apart here).
      if ((parts[2] !== 'tree' && parts[2] !== 'blob') || parts.length < 4) {
        throw new CoreError({
          code: 'source-invalid',
          source: text,
          reason: 'a GitHub URL must be https://github.com/owner/repo or …/tree/<ref>/<path>',
        });
      }
      if (ref !== undefined)
        throw new CoreError({ code: 'source-invalid', source: text, reason: 'the ref is given twice' });
      ref = parts[3];
      treePath = parts.slice(4).join('/');
    }
    const fromFragment = splitFragment(text, fragment, ref);
    if (treePath && fromFragment.subpath) {
      throw new CoreError({ code: 'source-invalid', source: text, reason: 'the path is given twice' });
    }
    return githubSource(
      text,
      parts[0] ?? '',
      stripGitSuffix(parts[1] ?? ''),
      treePath || fromFragment.subpath,
      fromFragment.ref ?? DEFAULT_REF,
    );
  }
  return gitSource(text, split.url, fragment, split.ref);
}

function parseLocalOrShorthand(
  text: string,
  main: string,
  fragment: string | undefined,
  options: ParseSpecOptions,
): Source {
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: text, reason });
  const explicitLocal =
    main === '.' ||
    main === '..' ||
    main === '~' ||
    /^(\.{1,2}|~)[/\\]/.test(main) ||
    main.startsWith('/') ||
    path.isAbsolute(main);
  const toAbsolute = (p: string): string =>
    p === '~' || p.startsWith('~/') ? path.join(options.home, p.slice(1)) : path.resolve(options.cwd, p);

  // The whole text first (a folder may contain "@"), then the text before the last "@" with a ref after it.
  const candidates: { local: string; ref?: string }[] = [{ local: main }];
  const at = main.lastIndexOf('@');
  if (at > 0) candidates.push({ local: main.slice(0, at), ref: main.slice(at + 1) });
  for (const candidate of candidates) {
    const absolute = toAbsolute(candidate.local);
    const kind = options.probe(absolute);
    if (kind === 'missing') continue;
    if (kind === 'git') return gitSource(text, absolute, fragment, candidate.ref);
    if (candidate.ref !== undefined || fragment !== undefined) {
      throw invalid(`"@ref" and "#path" apply to git sources only, and ${absolute} is not a git repository`);
    }
    return { kind: 'folder', path: absolute };
  }
  if (explicitLocal) throw invalid(`no such file or folder: ${toAbsolute(main)}`);
  return parseShorthand(text, main, fragment);
}

/** SkillMeat's `owner/repo[/path…][@ref]`; also `owner/repo#path[@ref]` by analogy with git sources. */
function parseShorthand(text: string, main: string, fragment: string | undefined): GithubSource {
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: text, reason });
  let spec = main;
  let ref: string | undefined;
  const at = spec.lastIndexOf('@');
  if (at >= 0) {
    ref = spec.slice(at + 1);
    spec = spec.slice(0, at);
  }
  const parts = spec.split('/').filter((part) => part !== '');
  if (parts.length < 2) {
    throw invalid(
      'not a local path, a git URL or GitHub shorthand "owner/repo[/path][@ref]" (fewer than 2 parts)',
    );
  }
  const fromFragment = splitFragment(text, fragment, ref);
  const inlinePath = parts.slice(2).join('/');
  if (inlinePath && fromFragment.subpath) throw invalid('the path is given twice');
  return githubSource(
    text,
    parts[0] ?? '',
    parts[1] ?? '',
    inlinePath || fromFragment.subpath,
    fromFragment.ref ?? DEFAULT_REF,
  );
}

function gitSource(
  text: string,
  url: string,
  fragment: string | undefined,
  urlRef: string | undefined,
): GitSource {
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: text, reason });
  if (url.length === 0) throw invalid('the URL is empty');
  if (url.startsWith('-')) throw invalid('it starts with "-" (it would be read as a git option)');
  const { subpath, ref } = splitFragment(text, fragment, urlRef);
  const refText = ref ?? DEFAULT_REF;
  const problem = refProblem(refText);
  if (problem) throw invalid(problem);
  return { kind: 'git', url: url.replace(/(?<=.)\/+$/, ''), subpath, ref: refText };
}

function githubSource(text: string, owner: string, repo: string, subpath: string, ref: string): GithubSource {
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: text, reason });
  if (!GITHUB_OWNER.test(owner)) throw invalid(`"${owner}" is not a GitHub owner name`);
  if (!GITHUB_REPO.test(repo) || repo === '.' || repo === '..')
    throw invalid(`"${repo}" is not a GitHub repository name`);
  const sub = normaliseSubpath(subpath);
  if ('problem' in sub) throw invalid(sub.problem);
  const problem = refProblem(ref);
  if (problem) throw invalid(problem);
  return {
    kind: 'github',
    owner,
    repo,
    url: `https://github.com/${owner}/${repo}.git`,
    subpath: sub.value,
    ref,
  };
}

/** `#sub/path[@ref]`: the ref after the last `@`, unless the URL already carried one. */
function splitFragment(
  text: string,
  fragment: string | undefined,
  urlRef: string | undefined,
): { subpath: string; ref: string | undefined } {
  let subpathText = fragment ?? '';
  let ref = urlRef;
  if (urlRef === undefined) {
    const at = subpathText.lastIndexOf('@');
    if (at >= 0) {
      ref = subpathText.slice(at + 1);
      subpathText = subpathText.slice(0, at);
    }
  }
  const sub = normaliseSubpath(subpathText);
  if ('problem' in sub) throw new CoreError({ code: 'source-invalid', source: text, reason: sub.problem });
  if (ref !== undefined) {
    const problem = refProblem(ref);
    if (problem) throw new CoreError({ code: 'source-invalid', source: text, reason: problem });
  }
  return { subpath: sub.value, ref };
}

/** Splits `url@ref` at the last `@` that comes after the start of the URL's path. */
function splitUrlRef(main: string, pathStart: number): { url: string; ref: string | undefined } {
  const at = main.lastIndexOf('@');
  if (at < pathStart) return { url: main, ref: undefined };
  return { url: main.slice(0, at), ref: main.slice(at + 1) };
}

/** `https://github.com/<parts…>` (also www.github.com), or undefined for any other URL. */
function githubUrlParts(url: string): { parts: string[] } | undefined {
  const match = /^https?:\/\/(?:www\.)?github\.com\/(.*)$/i.exec(url);
  if (!match) return undefined;
  return { parts: (match[1] ?? '').split('/').filter((part) => part !== '') };
}

function stripGitSuffix(name: string): string {
  return name.endsWith('.git') ? name.slice(0, -4) : name;
}

function lastUrlSegment(url: string): string {
  const trimmed = url.replace(/[/\\]+$/, '');
  const cut = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'), trimmed.lastIndexOf(':'));
  return trimmed.slice(cut + 1);
}

/** Python's `Path.stem`: the name without its last suffix; a leading dot is not a suffix. */
function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}
