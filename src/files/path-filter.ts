import { isReservedRelPath } from '../format/files-keys.js';
import { GlobMatcher } from './glob-matcher.js';

/** Patterns skipped unless the user overrides them: temp, partial and editor swap files, and persistd's own folder. */
export const DEFAULT_EXCLUDES: readonly string[] = ['*.tmp', '*.part', '.~*', '*.swp', '*~', '.#*', '.DS_Store', '.persistd'];

/** Include/exclude options shared by TreeSync and the scanner. */
export interface PathFilterOptions {
  /** When non-empty, only files matching one of these globs are synced. */
  include?: readonly string[];
  /** Globs to skip, added to DEFAULT_EXCLUDES (unless `defaultExcludes` is false). */
  exclude?: readonly string[];
  /** Set to false to drop DEFAULT_EXCLUDES (the root `.persistd/` folder stays excluded regardless). */
  defaultExcludes?: boolean;
}

/** Decides which relative paths of a tree are synced. */
export class PathFilter {
  private readonly include: GlobMatcher;
  private readonly exclude: GlobMatcher;

  constructor(options: PathFilterOptions = {}) {
    this.include = new GlobMatcher(options.include ?? []);
    this.exclude = new GlobMatcher([...(options.defaultExcludes === false ? [] : DEFAULT_EXCLUDES), ...(options.exclude ?? [])]);
  }

  /** Whether a folder can be skipped entirely while scanning or watching. */
  skipsDir(relDir: string): boolean {
    return isReservedRelPath(relDir) || this.exclude.matches(relDir);
  }

  /** Whether a file is synced. */
  accepts(relPath: string): boolean {
    if (isReservedRelPath(relPath) || this.exclude.matches(relPath)) return false;
    return this.include.empty || this.include.matches(relPath);
  }
}
