import { lstat, mkdir } from 'node:fs/promises';
import { PersistdError } from '../errors.js';
import { localPathOf } from './local-name.js';

/**
 * Creates the folders of `relDir` under `root` one level at a time, refusing to pass through a symlink
 * or a file: a symlinked folder in the local tree must never let a restore write outside it.
 * `relDir` is persistd's text of the path (`local-name.ts`). `known` caches folders already checked during one restore; `created` collects the folders this call made.
 */
export async function mkdirInside(root: string, relDir: string, known: Set<string>, created?: Set<string>): Promise<void> {
  if (relDir === '' || known.has(relDir)) return;
  let rel = '';
  for (const segment of relDir.split('/')) {
    rel = rel === '' ? segment : `${rel}/${segment}`;
    if (known.has(rel)) continue;
    const abs = localPathOf(root, rel);
    if (abs === undefined)
      throw new PersistdError(`cannot restore into ${rel}: not a valid path text`, { kind: 'internal', op: 'restore', path: rel });
    const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st === undefined) {
      const made = await mkdir(abs).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
          return false;
        },
      );
      if (made) created?.add(rel);
    } else if (!st.isDirectory()) {
      throw new PersistdError(`cannot restore into ${rel}: it is ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'} locally`, {
        kind: 'integrity',
        op: 'restore',
        path: String(abs),
        hint: 'move the local entry away if the remote copy should be restored there',
      });
    }
    known.add(rel);
  }
}
