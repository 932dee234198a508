import type { AgeSettings } from './age-settings.js';
import type { ReplicaUrl } from './replica-url.js';
import type { S3Settings } from './s3-settings.js';
import type { Target } from './targets.js';

/** Log levels persistd accepts. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Where a setting's value came from, for `doctor`. */
export type SettingSource = 'flag' | `env ${string}` | 'config file' | 'default' | 'derived';

/** The one resolved, validated, frozen configuration every command works from. */
export interface Config {
  /** PERSISTD_DISABLED=1: run the app without persistence (loudly). */
  readonly disabled: boolean;
  readonly replica: ReplicaUrl | undefined;
  /** Present when the replica is s3://, r2:// or gs://. */
  readonly s3: S3Settings | undefined;
  /** The replica's age keys (both lists empty: a plaintext replica). */
  readonly age: AgeSettings;
  readonly databases: readonly Target[];
  readonly directories: readonly Target[];
  readonly files: readonly Target[];
  readonly stateDir: string;
  readonly logLevel: LogLevel;
  readonly concurrency: number;
  readonly exclude: readonly string[];
  readonly include: readonly string[];
  readonly retentionMs: number;
  readonly retentionMin: number;
  /** A duration (`5m`) or a cron expression. */
  readonly snapshotSchedule: string;
  /** `run --verify-interval`: when to verify the replica (a duration or cron expression), or undefined (off). */
  readonly verifySchedule: string | undefined;
  readonly syncIntervalMs: number;
  readonly maxDelete: number;
  /** WAL mode: a compaction point stores the whole database at least this often (0: always); otherwise the changed pages. */
  readonly fullSnapshotIntervalMs: number;
  /** WAL mode: ...or once the changed pages stored since the last full snapshot reach this share of the database. */
  readonly fullSnapshotShare: number;
  readonly keepDeletedMs: number;
  /** `run`: how often each directory and loose file is checked against a listing of the replica (0: only at start). */
  readonly reconcileIntervalMs: number;
  /** Restore setuid/setgid and world-write-without-sticky bits from the replica as they are (default: masked). */
  readonly restoreSpecialModes: boolean;
  readonly restoreTimeoutMs: number;
  readonly appStopTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly metricsAddr: { host: string; port: number } | undefined;
  readonly configFile: string | undefined;
  /** Where each setting came from, keyed by setting key. */
  readonly sources: Readonly<Record<string, SettingSource>>;
}
