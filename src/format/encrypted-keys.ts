import { DB_ROOT, currentPointerKey, databaseNameOfKey, parseSnapshotKey } from './db-keys.js';
import { FILES_ROOT, LOOSE_TREE, RESERVED_SEGMENT } from './files-keys.js';
import { ASIDE_ROOT, FILES_OWNER_KEY } from './files-owner.js';
import { REPLICA_MARKER_KEY } from './replica-marker.js';

/**
 * Whether the object under `key` stays plaintext in an encrypted replica (format 2, docs/FORMAT.md
 * "Encryption"): the format marker, the lineage and files owner pointers, a fenced instance's record,
 * database manifests (sizes, hashes and positions, no app data; a writer holding only the recipients
 * reads them to continue a chain) and doctor's probes. Every other object carries the app's data or
 * its names and is encrypted.
 */
export function isPlaintextKey(key: string): boolean {
  if (key === REPLICA_MARKER_KEY || key === FILES_OWNER_KEY || key.startsWith('probe/')) return true;
  if (key.startsWith(DB_ROOT)) {
    const name = databaseNameOfKey(key);
    if (name !== undefined && key === currentPointerKey(name)) return true;
    return parseSnapshotKey(key)?.kind === 'manifest';
  }
  if (key.startsWith(ASIDE_ROOT)) {
    const rest = key.slice(ASIDE_ROOT.length);
    const slash = rest.indexOf('/');
    return slash > 0 && rest.slice(slash) === '/aside.json';
  }
  return false;
}

/**
 * The keys an encrypted object stored under `key` may be bound to: its own, and for a trash copy
 * (`files/<name>/.persistd/trash/<stamp>/<path>`, made by a server-side copy that keeps the ciphertext)
 * the live key it was copied from.
 */
export function acceptedBindings(key: string): string[] {
  if (!key.startsWith(FILES_ROOT)) return [key];
  const parts = key.slice(FILES_ROOT.length).split('/');
  const [tree, reserved, trash, stamp, ...rest] = parts;
  if (tree === undefined || reserved !== RESERVED_SEGMENT || trash !== 'trash' || stamp === undefined || rest.length === 0) return [key];
  if (tree === LOOSE_TREE && rest.length !== 1) return [key];
  return [key, `${FILES_ROOT}${tree}/${rest.join('/')}`];
}
