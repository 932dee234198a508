/**
 * The files owner pointer `files/.persistd/owner.json` and the aside namespace of fenced instances
 * (docs/FORMAT.md, "Files owner and writes kept aside", format 2). The instance that holds the pointer
 * writes the live namespace (`files/<tree>/...`, `files/_loose/...`); an instance that lost it keeps
 * writing, but only under `files/.persistd/aside/<instance>/`.
 */
import { PersistdError } from '../errors.js';
import { FILES_ROOT, LOOSE_TREE, RESERVED_SEGMENT } from './files-keys.js';

/** Format version of the owner pointer. */
export const FILES_OWNER_FORMAT = 1;

/** Key of the owner pointer. Tree names never start with `.persistd`, so it cannot collide with a tree. */
export const FILES_OWNER_KEY = `${FILES_ROOT}${RESERVED_SEGMENT}/owner.json`;

/** Prefix of everything fenced instances kept aside. */
export const ASIDE_ROOT = `${FILES_ROOT}${RESERVED_SEGMENT}/aside/`;

/** The content of the owner pointer. */
export interface FilesOwner {
  format: typeof FILES_OWNER_FORMAT;
  kind: 'files-owner';
  /** Random id of the persistd process that took the pointer (the same id as in database lineage pointers). */
  instance: string;
  host: string;
  pid: number;
  /** When that process started: an instance never takes the pointer from one that started after it. */
  instanceStartedAt: string;
  takenAt: string;
  createdBy: string;
}

/** What a fenced instance records once under its aside prefix: who it was and who took over. */
export interface AsideRecord {
  format: 1;
  kind: 'files-aside';
  instance: string;
  host: string;
  pid: number;
  fencedAt: string;
  fencedBy: { instance: string; host: string; takenAt: string };
}

/** `files/.persistd/aside/<instance>/`: everything one fenced instance kept aside. */
export function asidePrefix(instance: string): string {
  return `${ASIDE_ROOT}${instance}/`;
}

/** `files/.persistd/aside/<instance>/aside.json`: the record of that instance. */
export function asideRecordKey(instance: string): string {
  return `${asidePrefix(instance)}aside.json`;
}

/** Where a fenced instance puts the object it would have written at `liveKey` (a key under `files/`). */
export function asideKey(instance: string, liveKey: string): string {
  return `${asidePrefix(instance)}${liveKey.slice(FILES_ROOT.length)}`;
}

/** The aside prefix of one tree (`files/.persistd/aside/<instance>/<tree>/`) or of loose files (`.../_loose/`). */
export function asideTreePrefix(instance: string, tree: string = LOOSE_TREE): string {
  return `${asidePrefix(instance)}${tree}/`;
}

/** Whether a string can be an instance id in a key (what `newInstanceIdentity` makes: hex). */
export function isInstanceId(text: string): boolean {
  return /^[0-9a-f]{8,64}$/.test(text);
}

/** Serializes a pointer or a record (trailing newline). */
export function serializeOwnerJson(value: FilesOwner | AsideRecord): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Parses the owner pointer; throws an integrity error naming the key when it is not one this version reads. */
export function parseFilesOwner(text: string): FilesOwner {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw ownerError('is not JSON');
  }
  const p = value as Partial<FilesOwner> | null;
  if (p === null || typeof p !== 'object' || p.kind !== 'files-owner') throw ownerError('is not a files owner pointer');
  if (typeof p.format !== 'number' || p.format > FILES_OWNER_FORMAT) {
    throw new PersistdError(`${FILES_OWNER_KEY} has format ${String(p.format)}, newer than this persistd reads (${FILES_OWNER_FORMAT})`, {
      kind: 'usage',
      op: 'read files owner',
      path: FILES_OWNER_KEY,
      hint: 'upgrade persistd on this machine',
    });
  }
  for (const field of ['instance', 'host', 'instanceStartedAt', 'takenAt'] as const)
    if (typeof p[field] !== 'string') throw ownerError(`has no ${field}`);
  if (Number.isNaN(Date.parse(p.instanceStartedAt!)) || Number.isNaN(Date.parse(p.takenAt!))) throw ownerError('has a bad time');
  return {
    format: FILES_OWNER_FORMAT,
    kind: 'files-owner',
    instance: p.instance!,
    host: p.host!,
    pid: typeof p.pid === 'number' ? p.pid : 0,
    instanceStartedAt: p.instanceStartedAt!,
    takenAt: p.takenAt!,
    createdBy: typeof p.createdBy === 'string' ? p.createdBy : 'unknown',
  };
}

function ownerError(what: string): PersistdError {
  return new PersistdError(`the files owner pointer ${FILES_OWNER_KEY} ${what}`, {
    kind: 'integrity',
    op: 'read files owner',
    path: FILES_OWNER_KEY,
    hint: 'delete it: the next persistd run takes it afresh',
  });
}
