import type { CommandInvocation } from './command-invocation.js';
import type { Config } from '../config/config.js';
import { maskSecret } from '../log/redact.js';
import { println, type CommandContext } from './command-context.js';
import { checkEncryption } from './doctor-age-checks.js';
import type { DoctorCheck } from './doctor-check.js';
import { checkLocalPaths } from './doctor-local-checks.js';
import { checkNodeVersion } from './doctor-node-check.js';
import { probeStore } from './doctor-store-probes.js';
import { openReplica } from './open-replica.js';
import { requireReplica } from './require-replica.js';
import { EXIT_CODES } from '../exit-codes.js';

/** `persistd doctor`: prints a checklist of config, credentials, store probes, local paths and the Node version; exit 0 when all pass, 4 otherwise. */
export async function doctorCommand(ctx: CommandContext, invocation: CommandInvocation): Promise<number> {
  const { config } = ctx;
  requireReplica(config);
  const checks: DoctorCheck[] = [];
  checks.push({ name: 'configuration', status: 'ok', detail: describeConfig(config).join('; ') });
  if (config.s3) {
    checks.push({
      name: 'credentials',
      status: 'ok',
      detail: config.s3.credentials
        ? `${config.s3.credentialSource}: key ${maskSecret(config.s3.credentials.accessKeyId)}`
        : config.s3.credentialSource,
    });
  }
  const replica = openReplica(config, ctx.logger);
  const probes = await probeStore(replica.store, ctx.signal);
  checks.push(...probes);
  if (probes[0]?.status !== 'fail') checks.push(...(await checkEncryption(config.age, replica.store, replica.backend, ctx.signal)));
  checks.push(...(await checkLocalPaths(config)));
  checks.push(checkNodeVersion());

  const failed = checks.filter((check) => check.status === 'fail');
  if (invocation.options.json) {
    println(ctx, JSON.stringify({ ok: failed.length === 0, checks }, null, 2));
  } else {
    const width = Math.max(...checks.map((check) => check.name.length));
    for (const check of checks) {
      println(ctx, `${label(check.status)} ${check.name.padEnd(width)}  ${check.detail}`);
      if (check.hint && check.status !== 'ok') println(ctx, `       ${''.padEnd(width)}  hint: ${check.hint}`);
    }
    const warned = checks.filter((check) => check.status === 'warn').length;
    println(
      ctx,
      failed.length === 0
        ? `all ${checks.length} checks passed${warned ? ` (${warned} with a warning)` : ''}`
        : `${failed.length} of ${checks.length} checks failed`,
    );
  }
  return failed.length === 0 ? EXIT_CODES.ok : EXIT_CODES.storage;
}

function label(status: DoctorCheck['status']): string {
  return status === 'ok' ? '[ ok ]' : status === 'warn' ? '[warn]' : '[FAIL]';
}

function describeConfig(config: Config): string[] {
  const parts = [`replica ${config.replica?.display ?? 'none'} (${config.sources.to ?? 'default'})`];
  if (config.s3) {
    parts.push(
      `provider ${config.s3.provider}`,
      `endpoint ${config.s3.endpoint ?? 'AWS'}`,
      `region ${config.s3.region}`,
      `${config.s3.forcePathStyle ? 'path-style' : 'virtual-hosted'} addressing`,
    );
  }
  parts.push(`${config.databases.length} database(s), ${config.directories.length} dir(s), ${config.files.length} file(s)`);
  if (config.configFile) parts.push(`config file ${config.configFile}`);
  return parts;
}
