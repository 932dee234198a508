/**
 * A small glob matcher (`*`, `**`, `?`, `[...]`, `{a,b}`) for include/exclude patterns.
 * Own code because node:path `matchesGlob` is experimental in Node 20 (prints a warning) and picomatch
 * is only present as a dev dependency of vitest.
 */

/** Compiles one glob to a RegExp matching a whole `/`-separated string. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
        if (atStart && atEnd) {
          // `**/` matches zero or more whole segments; a trailing `**` matches everything below.
          if (i + 2 === glob.length) re += '.*';
          else re += '(?:[^/]*(?:/[^/]*)*/)?';
          i += i + 2 === glob.length ? 2 : 3;
          continue;
        }
      }
      re += '[^/]*';
      while (glob[i] === '*') i++;
      continue;
    }
    if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) re += '\\[';
      else {
        let body = glob.slice(i + 1, close).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body}]`;
        i = close;
      }
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '\\' && i + 1 < glob.length) {
      i++;
      re += escapeChar(glob[i]!);
    } else re += escapeChar(c);
    i++;
  }
  return new RegExp(`^${re}$`, 'u');
}

function escapeChar(c: string): string {
  return /[.+^$|()[\]{}\\/*?]/.test(c) ? `\\${c}` : c;
}

/**
 * A compiled glob with gitignore-like semantics: a pattern without `/` matches any single path segment
 * (`*.tmp` matches `a/b/x.tmp`; `.persistd` matches that folder and everything in it); a pattern with `/`
 * (or starting with `/`) is anchored at the tree root and also matches everything below a matching folder.
 */
export class GlobMatcher {
  private readonly segmentRes: RegExp[] = [];
  private readonly pathRes: RegExp[] = [];

  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      const anchored = raw.startsWith('/') || raw.startsWith('./');
      const p = raw.replace(/^\.\//, '').replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '') continue;
      if (anchored || p.includes('/')) this.pathRes.push(globToRegExp(p));
      else this.segmentRes.push(globToRegExp(p));
    }
  }

  /** Whether there are no patterns at all. */
  get empty(): boolean {
    return this.segmentRes.length === 0 && this.pathRes.length === 0;
  }

  /** Whether `relPath` (or one of the folders containing it) matches a pattern. */
  matches(relPath: string): boolean {
    const segments = relPath.split('/');
    if (this.segmentRes.length > 0) {
      for (const segment of segments) if (this.segmentRes.some((re) => re.test(segment))) return true;
    }
    if (this.pathRes.length > 0) {
      let prefix = '';
      for (const segment of segments) {
        prefix = prefix === '' ? segment : `${prefix}/${segment}`;
        if (this.pathRes.some((re) => re.test(prefix))) return true;
      }
    }
    return false;
  }
}
