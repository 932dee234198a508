import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { messageOf, usageError } from '../errors.js';

/** Where the replica lives, parsed from `--to`. */
export type ReplicaUrl =
  { scheme: 'file'; root: string; display: string } | { scheme: 's3' | 'r2' | 'gs'; bucket: string; prefix: string; display: string };

const SUPPORTED = 's3://bucket/prefix, r2://bucket/prefix, gs://bucket/prefix or file:///absolute/path';
const BUCKET_NAME = /^[a-z0-9][a-z0-9.\-_]{2,254}$/i;

/** Parses and validates a replica URL; throws a usage error that says what a good one looks like. */
export function parseReplicaUrl(raw: string): ReplicaUrl {
  const text = raw.trim();
  const match = /^([a-z0-9+.-]+):\/\/(.*)$/i.exec(text);
  if (!match) {
    throw usageError(`invalid replica URL "${text}": it has no scheme`, `use ${SUPPORTED}`);
  }
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  if (scheme === 'file') return parseFileUrl(text);
  if (scheme !== 's3' && scheme !== 'r2' && scheme !== 'gs') {
    throw usageError(`unsupported replica URL scheme "${scheme}://"`, `use ${SUPPORTED}`);
  }
  if (rest.includes('@')) {
    throw usageError(
      'the replica URL must not contain credentials',
      'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or R2_*) in the environment instead',
    );
  }
  const [bucket = '', ...prefixParts] = rest.split('/');
  if (bucket === '') {
    throw usageError(`replica URL "${text}" has no bucket`, `write it as ${scheme}://<bucket>/<optional/prefix>`);
  }
  if (!BUCKET_NAME.test(bucket)) {
    throw usageError(
      `"${bucket}" is not a valid bucket name`,
      'bucket names use letters, digits, dots, dashes and underscores, 3 to 255 characters',
    );
  }
  const prefix = prefixParts.filter((part) => part !== '').join('/');
  if (prefix.split('/').some((part) => part === '.' || part === '..')) {
    throw usageError(`replica URL "${text}" has "." or ".." in its prefix`, 'use a plain prefix such as s3://bucket/myapp');
  }
  return { scheme, bucket, prefix, display: `${scheme}://${bucket}${prefix ? `/${prefix}` : ''}` };
}

function parseFileUrl(text: string): ReplicaUrl {
  let root: string;
  try {
    root = fileURLToPath(text);
  } catch (err) {
    throw usageError(`invalid file URL "${text}": ${messageOf(err)}`, 'write it as file:///absolute/path (three slashes)');
  }
  if (!path.isAbsolute(root)) {
    throw usageError(`file URL "${text}" is not an absolute path`, 'write it as file:///absolute/path (three slashes)');
  }
  return { scheme: 'file', root: path.resolve(root), display: `file://${path.resolve(root)}` };
}
