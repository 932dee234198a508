import { KeyObject } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { messageOf, usageError } from '../errors.js';
import type { Config, LogLevel, SettingSource } from './config.js';
import { readConfigFile, type ConfigFileSettings } from './config-file.js';
import { DEFAULTS } from './defaults.js';
import { resolveAgeSettings } from './age-settings.js';
import { parseDuration } from './duration.js';
import { OPTION_SPECS, type OptionSpec } from './option-specs.js';
import { parseReplicaUrl, type ReplicaUrl } from './replica-url.js';
import { resolveS3Settings } from './s3-settings.js';
import { parseSchedule } from './schedule.js';
import { parseTargets, validateTargets } from './targets.js';

/** What the CLI hands to the resolver: parsed flags by setting key, the environment and the working directory. */
export interface ConfigInput {
  flags: Readonly<Record<string, string | string[] | undefined>>;
  configPath?: string | undefined;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Skip checks against the local disk (used by commands that only read the replica). */
  skipTargetChecks?: boolean;
  /** Accept targets whose directory does not exist yet (`run`: its restore creates it). */
  createParents?: boolean;
}

interface RawValue {
  value: string | string[];
  source: SettingSource;
  baseDir: string;
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Resolves flags > environment > config file > defaults into one validated, frozen Config. */
export function resolveConfig(input: ConfigInput): Config {
  const { env, cwd } = input;
  const configPath = input.configPath ?? nonEmpty(env.PERSISTD_CONFIG);
  const file = configPath ? readConfigFile(configPath, env, cwd) : undefined;
  const raw = new Map<string, RawValue>();
  for (const spec of OPTION_SPECS) {
    const found = pick(spec, input.flags, env, file, cwd);
    if (found) raw.set(spec.key, found);
  }
  const sources: Record<string, SettingSource> = {};
  const text = (key: string): string | undefined => {
    const found = raw.get(key);
    sources[key] = found?.source ?? 'default';
    return found === undefined ? undefined : Array.isArray(found.value) ? found.value.join(',') : found.value;
  };
  const list = (key: string): { items: string[]; baseDir: string } => {
    const found = raw.get(key);
    sources[key] = found?.source ?? 'default';
    if (!found) return { items: [], baseDir: cwd };
    const items = (Array.isArray(found.value) ? found.value : [found.value])
      .flatMap((item) => item.split(','))
      .map((item) => item.trim())
      .filter(Boolean);
    return { items, baseDir: found.baseDir };
  };
  // How a bad value is named in an error: the way the user wrote it (flag, variable or config file key).
  const named =
    (key: string) =>
    (value: string): string =>
      settingLabel(key, value, raw.get(key)?.source, file?.path);

  const disabled = disabledSwitch(env.PERSISTD_DISABLED);
  const toText = text('to') ?? r2BucketFromEnv(env);
  const replica: ReplicaUrl | undefined = toText ? parseReplicaUrl(toText) : undefined;
  if (!raw.has('to') && toText) sources.to = 'env R2_BUCKET_NAME';
  const endpoint = text('endpoint');
  const region = text('region');
  const s3 = replica && replica.scheme !== 'file' ? resolveS3Settings(replica, { endpoint, region }, env) : undefined;

  const ageIdentityRaw = raw.get('ageIdentity');
  sources.ageIdentity = ageIdentityRaw?.source ?? 'default';
  const age = resolveAgeSettings(
    list('ageRecipients').items,
    ageIdentityRaw && {
      value: Array.isArray(ageIdentityRaw.value) ? ageIdentityRaw.value.join(',') : ageIdentityRaw.value,
      baseDir: ageIdentityRaw.baseDir,
    },
    (key, value) => settingLabel(key, value, raw.get(key)?.source, file?.path),
  );

  const dbList = list('dbs');
  const dirList = list('dirs');
  const fileList = list('files');
  const databases = parseTargets('db', dbList.items, dbList.baseDir);
  const directories = parseTargets('dir', dirList.items, dirList.baseDir);
  const files = parseTargets('file', fileList.items, fileList.baseDir);
  if (!input.skipTargetChecks) validateTargets(databases, directories, files, { createParents: input.createParents === true });

  const stateDirRaw = raw.get('stateDir');
  sources.stateDir = stateDirRaw?.source ?? 'default';
  const stateDir = path.resolve(stateDirRaw?.baseDir ?? cwd, (stateDirRaw?.value as string | undefined) ?? DEFAULTS.stateDir);
  checkStateDir(stateDir, named('stateDir')(stateDir));

  const config: Config = {
    disabled,
    replica,
    s3,
    age,
    databases,
    directories,
    files,
    stateDir,
    logLevel: level(text('logLevel') ?? DEFAULTS.logLevel, named('logLevel')),
    concurrency: integer(named('concurrency'), text('concurrency'), DEFAULTS.concurrency, 1, 256),
    exclude: list('exclude').items,
    include: list('include').items,
    retentionMs: duration(named('retention'), text('retention'), DEFAULTS.retention),
    retentionMin: integer(named('retentionMin'), text('retentionMin'), DEFAULTS.retentionMin, 1, 10_000),
    snapshotSchedule: schedule(text('snapshotInterval') ?? DEFAULTS.snapshotInterval, named('snapshotInterval')),
    verifySchedule: text('verifyInterval') === undefined ? undefined : schedule(text('verifyInterval')!, named('verifyInterval')),
    syncIntervalMs: duration(named('syncInterval'), text('syncInterval'), DEFAULTS.syncInterval),
    maxDelete: ratio(named('maxDelete'), text('maxDelete'), DEFAULTS.maxDelete),
    fullSnapshotIntervalMs: duration(named('fullSnapshotInterval'), text('fullSnapshotInterval'), DEFAULTS.fullSnapshotInterval, true),
    fullSnapshotShare: ratio(named('fullSnapshotShare'), text('fullSnapshotShare'), DEFAULTS.fullSnapshotShare),
    keepDeletedMs: duration(named('keepDeleted'), text('keepDeleted'), DEFAULTS.keepDeleted, true),
    reconcileIntervalMs: duration(named('reconcileInterval'), text('reconcileInterval'), DEFAULTS.reconcileInterval, true),
    restoreSpecialModes: onOff(named('restoreSpecialModes'), text('restoreSpecialModes'), DEFAULTS.restoreSpecialModes),
    restoreTimeoutMs: duration(named('restoreTimeout'), text('restoreTimeout'), DEFAULTS.restoreTimeout),
    appStopTimeoutMs: duration(named('appStopTimeout'), text('appStopTimeout'), DEFAULTS.appStopTimeout),
    shutdownTimeoutMs: duration(named('shutdownTimeout'), text('shutdownTimeout'), DEFAULTS.shutdownTimeout),
    metricsAddr: address(named('metricsAddr'), text('metricsAddr')),
    configFile: file?.path,
    sources,
  };
  return deepFreeze(config);
}

function pick(
  spec: OptionSpec,
  flags: ConfigInput['flags'],
  env: NodeJS.ProcessEnv,
  file: ConfigFileSettings | undefined,
  cwd: string,
): RawValue | undefined {
  const flag = flags[spec.key];
  if (flag !== undefined && !(Array.isArray(flag) && flag.length === 0)) return { value: flag, source: 'flag', baseDir: cwd };
  for (const name of spec.env) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) return { value, source: `env ${name}`, baseDir: cwd };
  }
  const fromFile = file?.values[spec.fileKey];
  if (fromFile !== undefined && file) return { value: fromFile, source: 'config file', baseDir: file.baseDir };
  return undefined;
}

function r2BucketFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const bucket = nonEmpty(env.R2_BUCKET_NAME);
  return bucket && nonEmpty(env.R2_ACCESS_KEY_ID) ? `r2://${bucket}` : undefined;
}

type Label = (value: string) => string;

/** Names a setting's value as the user gave it: `--concurrency "0"`, `PERSISTD_CONCURRENCY="0"` or `"concurrency: 0" in /app/persistd.yml`. */
function settingLabel(key: string, value: string, source: SettingSource | undefined, configFile: string | undefined): string {
  const spec = OPTION_SPECS.find((candidate) => candidate.key === key);
  if (source?.startsWith('env ')) return `${source.slice('env '.length)}="${value}"`;
  if (source === 'config file') return `"${spec?.fileKey ?? key}: ${value}" in ${configFile ?? 'the config file'}`;
  return `${spec?.flag.split(' ')[0] ?? key} "${value}"`;
}

function level(value: string, label: Label): LogLevel {
  const lower = value.toLowerCase() as LogLevel;
  if (!LEVELS.includes(lower)) throw usageError(`unknown log level: ${label(value)}`, `use one of ${LEVELS.join(', ')}`);
  return lower;
}

function integer(label: Label, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw usageError(`${label(value)} is not a whole number from ${min} to ${max}`, `e.g. ${fallback}`);
  }
  return parsed;
}

function duration(label: Label, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const parsed = parseDuration(value);
  if (parsed === undefined) throw usageError(`${label(value)} is not a duration`, 'write a number with a unit: 500ms, 30s, 5m, 1h, 7d');
  if (!allowZero && parsed <= 0)
    throw usageError(`${label(value)} must be longer than 0`, 'write a positive duration: 500ms, 30s, 5m, 1h, 7d');
  return parsed;
}

function ratio(label: Label, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = value.endsWith('%') ? Number(value.slice(0, -1)) / 100 : Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 1) {
    throw usageError(`${label(value)} is not a share above 0 and at most 1`, 'e.g. 0.2 or 20%');
  }
  return parsed;
}

function schedule(value: string, label: Label): string {
  // One parser for validation and for the scheduler itself, so the two never disagree.
  try {
    return parseSchedule(value).text;
  } catch (err) {
    const hint = (err as { hint?: string }).hint;
    throw usageError(`${label(value)}: ${messageOf(err)}`, hint ?? 'e.g. 15m, 1h, or "0 2 * * *" for 02:00 every day');
  }
}

function address(label: Label, value: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(.*):(\d{1,5})$/.exec(value.trim());
  const hint = 'e.g. 127.0.0.1:9090, or :9090 for all interfaces';
  if (!match) throw usageError(`${label(value)} is not host:port`, hint);
  const port = Number(match[2]);
  if (port > 65_535) throw usageError(`${label(value)}: port ${port} is out of range (0 to 65535)`, hint);
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

// A state dir that exists as a file would only fail later, deep inside a snapshot or an index write.
function checkStateDir(stateDir: string, label: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(stateDir).isDirectory();
  } catch {
    return; // missing: created on first use
  }
  if (!isDirectory)
    throw usageError(
      `state dir ${label} is not a directory`,
      'point --state-dir (PERSISTD_STATE_DIR) at a folder persistd may create and write, e.g. ./.persistd',
    );
}

// PERSISTD_DISABLED turns persistence off: an unreadable value is refused rather than guessed.
/** A switch: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (a flag given without a value is on). */
function onOff(label: Label, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(value.trim())) return true;
  if (/^(0|false|no|off)$/i.test(value.trim())) return false;
  throw usageError(`${label(value)} is neither on (1, true, yes, on) nor off (0, false, no, off)`, 'give one of those values');
}

function disabledSwitch(value: string | undefined): boolean {
  if (value === undefined || value.trim() === '') return false;
  if (/^(1|true|yes|on)$/i.test(value.trim())) return true;
  if (/^(0|false|no|off)$/i.test(value.trim())) return false;
  throw usageError(
    `PERSISTD_DISABLED="${value}" is neither on (1, true, yes, on) nor off (0, false, no, off)`,
    'set PERSISTD_DISABLED=1 to run the app without persistence on purpose, or unset it',
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function deepFreeze<T>(value: T): T {
  // Key bytes (Buffers) cannot be frozen, and KeyObjects keep their key outside the object.
  if (ArrayBuffer.isView(value) || value instanceof KeyObject) return value;
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
