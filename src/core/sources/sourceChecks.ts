/**
 * The checks every source passes before any of it becomes a git argument: allowed URL schemes, no
 * transport helpers (`ext::`), no leading `-`, no control characters, refs close to
 * `git check-ref-format`, subpaths without `..` or `.git`. Used by the parser (sourceSpec.ts) and for
 * sources built elsewhere (`assertSafeSource`).
 */
import * as path from 'node:path';
import { CoreError } from '../base/errors.js';
import type { Source } from './sourceSpec.js';

/** Schemes git may use for an upstream; anything else (and every `transport::address`) is refused. */
export const ALLOWED_SCHEMES = new Set(['https', 'http', 'ssh', 'git', 'file', 'git+ssh', 'ssh+git']);
export const SCHEME_URL = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
export const TRANSPORT_HELPER = /^[A-Za-z][A-Za-z0-9+.-]*::/;
export const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function redactCredentials(text: string): string {
  return text.replace(/(\b[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s]+@/g, '$1***@');
}

/** Why a version spec cannot be used as a ref, or undefined. Close to `git check-ref-format`, plus no `-`. */
export function refProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'the ref is empty';
  if (ref.length > 255) return 'the ref is longer than 255 characters';
  if (ref.startsWith('-')) return 'the ref starts with "-"';
  if (CONTROL_CHARS.test(ref) || /\s/.test(ref)) return 'the ref contains a space or control character';
  if (ref.includes('..')) return 'the ref contains ".."';
  if (/[~^:?*[\\]/.test(ref)) return 'the ref contains one of ~ ^ : ? * [ \\';
  if (ref.includes('@{') || ref === '@') return 'the ref contains "@{"';
  if (ref.includes('//') || ref.startsWith('/') || ref.endsWith('/'))
    return 'the ref has an empty path component';
  if (ref.endsWith('.') || ref.endsWith('.lock')) return 'the ref ends with "." or ".lock"';
  if (ref.split('/').some((part) => part.startsWith('.'))) return 'a ref component starts with "."';
  return undefined;
}

/** Normalises a path inside a repository ('' for the root) or returns why it is unusable. */
export function normaliseSubpath(subpath: string): { value: string } | { problem: string } {
  if (CONTROL_CHARS.test(subpath)) return { problem: 'the path contains a control character' };
  if (subpath.includes('\\')) return { problem: 'the path contains a backslash' };
  const parts = subpath.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) return { problem: 'the path contains ".."' };
  if (parts.includes('.git')) return { problem: 'the path points into ".git"' };
  return { value: parts.join('/') };
}

/** Checks a source built elsewhere (or by hand) with the same rules as the parser; returns it unchanged. */
export function assertSafeSource<S extends Source>(source: S): S {
  const shown = source.kind === 'folder' ? source.path : redactCredentials(source.url);
  const invalid = (reason: string): CoreError =>
    new CoreError({ code: 'source-invalid', source: shown, reason });
  if (source.kind === 'folder') {
    if (!path.isAbsolute(source.path)) throw invalid('a local folder must be an absolute path');
    if (source.path.includes('\0')) throw invalid('the path contains a NUL byte');
    return source;
  }
  const url = source.url;
  if (url.length === 0) throw invalid('the URL is empty');
  if (url.startsWith('-')) throw invalid('it starts with "-" (it would be read as a git option)');
  if (CONTROL_CHARS.test(url)) throw invalid('it contains a control character');
  if (TRANSPORT_HELPER.test(url)) throw invalid('git transport helpers ("name::address") are refused');
  const scheme = SCHEME_URL.exec(url);
  if (scheme) {
    if (!ALLOWED_SCHEMES.has((scheme[1] ?? '').toLowerCase()))
      throw invalid(`the URL scheme "${scheme[1]}" is not supported`);
    if (/\s/.test(url)) throw invalid('the URL contains a space');
  } else if (!isScpLike(url) && !path.isAbsolute(url)) {
    throw invalid('a local repository must be an absolute path');
  }
  const ref = refProblem(source.ref);
  if (ref) throw invalid(ref);
  const sub = normaliseSubpath(source.subpath);
  if ('problem' in sub) throw invalid(sub.problem);
  if (sub.value !== source.subpath) throw invalid(`the path "${source.subpath}" is not normalised`);
  return source;
}

/** git's own rule: a ":" before any "/" makes `host:path` an ssh address (but `C:\` is a Windows drive). */
export function isScpLike(text: string): boolean {
  const colon = text.indexOf(':');
  if (colon <= 0) return false;
  const slash = text.indexOf('/');
  if (slash >= 0 && slash < colon) return false;
  if (/^[A-Za-z]:[\\/]/.test(text)) return false;
  return !text.startsWith('.') && !text.startsWith('~');
}

export function assertScheme(text: string, scheme: string): void {
  if (!ALLOWED_SCHEMES.has(scheme)) {
    throw new CoreError({
      code: 'source-invalid',
      source: text,
      reason: `the URL scheme "${scheme}" is not supported`,
    });
  }
}
