import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../errors.js';

/** One protected database, directory or file: the name it has in the replica and its absolute local path. */
export interface Target {
  name: string;
  path: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SQLITE_HEADER = 'SQLite format 3\0';

/** Parses `[name=]path` entries of one kind, resolving relative paths against `baseDir`. */
export function parseTargets(kind: 'db' | 'dir' | 'file', entries: readonly string[], baseDir: string): Target[] {
  return entries.map((entry) => {
    const trimmed = entry.trim();
    if (trimmed === '') throw usageError(`an empty --${kind} was given`, `give --${kind} a path, e.g. --${kind} ./data`);
    const eq = trimmed.indexOf('=');
    const named = eq > 0 && NAME.test(trimmed.slice(0, eq));
    if (eq > 0 && !named && looksLikeName(trimmed.slice(0, eq)) && !existsSync(path.resolve(baseDir, trimmed))) {
      throw usageError(
        `--${kind} ${entry}: "${trimmed.slice(0, eq)}" is not a valid name in the replica`,
        'a name starts with a letter or digit and has only letters, digits, ".", "_" and "-" (e.g. --' +
          kind +
          ' main=' +
          trimmed.slice(eq + 1) +
          ')',
      );
    }
    const rawPath = named ? trimmed.slice(eq + 1) : trimmed;
    const absolute = path.resolve(baseDir, rawPath);
    const name = named ? trimmed.slice(0, eq) : path.basename(absolute);
    if (!NAME.test(name)) {
      throw usageError(
        `--${kind} ${entry}: "${name}" cannot be used as its name in the replica`,
        `name it explicitly: --${kind} myname=${rawPath} (letters, digits, ".", "_", "-")`,
      );
    }
    return { name, path: absolute };
  });
}

/** Checks the targets against each other and the disk: duplicates, nesting, missing parents, non-SQLite files. */
export function validateTargets(
  dbs: readonly Target[],
  dirs: readonly Target[],
  files: readonly Target[],
  options: { createParents?: boolean } = {},
): void {
  const all = [
    ...dbs.map((t) => ({ ...t, kind: 'db' })),
    ...dirs.map((t) => ({ ...t, kind: 'dir' })),
    ...files.map((t) => ({ ...t, kind: 'file' })),
  ];
  const seenPaths = new Map<string, string>();
  for (const target of all) {
    const earlier = seenPaths.get(target.path);
    if (earlier) throw usageError(`${target.path} is given twice (as --${earlier} and --${target.kind})`, 'protect each path once');
    seenPaths.set(target.path, target.kind);
  }
  for (const group of [dbs, dirs, files]) {
    const names = new Map<string, string>();
    for (const target of group) {
      const other = names.get(target.name);
      if (other) {
        throw usageError(
          `${other} and ${target.path} would both be stored as "${target.name}"`,
          `give one of them its own name: name=${target.path}`,
        );
      }
      names.set(target.name, target.path);
    }
  }
  for (const dir of dirs) {
    for (const other of all) {
      if (other.path !== dir.path && isInside(other.path, dir.path)) {
        throw usageError(
          `--${other.kind} ${other.path} is inside --dir ${dir.path}`,
          other.kind === 'dir'
            ? 'protect only the outer directory'
            : 'a database inside a protected directory must not also be mirrored as a file: move it or protect a narrower directory',
        );
      }
    }
    if (existsAs(dir.path) === 'file') throw usageError(`--dir ${dir.path} is a file, not a directory`, 'use --file for single files');
  }
  for (const db of dbs) checkDatabasePath(db.path, options.createParents === true);
  for (const file of files) {
    if (existsAs(file.path) === 'dir') throw usageError(`--file ${file.path} is a directory`, 'use --dir for directories');
    checkParent('--file', file.path, options.createParents === true, `create ${path.dirname(file.path)} or fix the path`);
  }
}

function checkDatabasePath(dbPath: string, createParents: boolean): void {
  checkParent('--db', dbPath, createParents, `create ${path.dirname(dbPath)} (the app creates the database in it) or fix the path`);
  const kind = existsAs(dbPath);
  if (kind === 'dir') throw usageError(`--db ${dbPath} is a directory`, 'give the path of the SQLite database file');
  if (kind === 'file' && !looksLikeSqlite(dbPath)) {
    throw usageError(
      `--db ${dbPath} is not a SQLite database`,
      'check the path: persistd protects SQLite 3 database files; use --file for other files',
    );
  }
}

/**
 * The target's directory must exist, except for `run` (`createParents`): a fresh container often
 * lacks it, and the restore creates it. Either way no ancestor may be a file.
 */
function checkParent(flag: string, target: string, createParents: boolean, hint: string): void {
  const parent = path.dirname(target);
  const kind = existsAs(parent);
  if (kind === 'dir') return;
  if (kind === undefined && createParents) {
    let ancestor = path.dirname(parent);
    while (existsAs(ancestor) === undefined && ancestor !== path.dirname(ancestor)) ancestor = path.dirname(ancestor);
    if (existsAs(ancestor) === 'dir') return;
    throw usageError(`the directory of ${flag} ${target} cannot be created: ${ancestor} is a file`, 'fix the path');
  }
  throw usageError(
    kind === 'file' ? `the directory of ${flag} ${target} is a file` : `the directory of ${flag} ${target} does not exist`,
    hint,
  );
}

/** True when the file is empty (a database not yet written) or starts with the SQLite 3 header. */
export function looksLikeSqlite(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(16);
    const read = readSync(fd, buffer, 0, 16, 0);
    return read === 0 || buffer.toString('latin1', 0, read) === SQLITE_HEADER;
  } finally {
    closeSync(fd);
  }
}

// `name=path` whose name part has no slash was meant as a name (a path would have one, or exist).
function looksLikeName(text: string): boolean {
  return !text.includes('/') && !text.includes(path.sep);
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function existsAs(p: string): 'file' | 'dir' | 'other' | undefined {
  try {
    const stats = statSync(p);
    return stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : 'other';
  } catch {
    return undefined;
  }
}
