import { usageError } from '../errors.js';
import { registerSecret } from '../log/redact.js';
import type { ReplicaUrl } from './replica-url.js';

/** Static credentials read from the environment; undefined in S3Settings means "use the AWS default chain". */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Everything needed to talk to an S3-compatible service, resolved from the URL, flags and environment. */
export interface S3Settings {
  provider: 'aws' | 'r2' | 'gcs' | 'custom';
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  credentials: StaticCredentials | undefined;
  /** Where the credentials came from, safe to print. */
  credentialSource: string;
}

/** Resolves provider, endpoint, region, addressing and credentials for an s3://, r2:// or gs:// replica. */
export function resolveS3Settings(
  url: Extract<ReplicaUrl, { bucket: string }>,
  options: { endpoint?: string | undefined; region?: string | undefined },
  env: NodeJS.ProcessEnv,
): S3Settings {
  const base = { bucket: url.bucket, prefix: url.prefix };
  if (url.scheme === 'r2') {
    const endpoint =
      options.endpoint ?? env.R2_ENDPOINT_URL ?? (env.R2_ACCOUNT_ID ? `https://${env.R2_ACCOUNT_ID}.r2.cloudflarestorage.com` : undefined);
    if (!endpoint) {
      throw usageError('an r2:// replica needs the Cloudflare account', 'set R2_ACCOUNT_ID (or R2_ENDPOINT_URL, or --endpoint)');
    }
    const credentials =
      pair(env, 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY') ?? pair(env, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN');
    if (!credentials) {
      throw usageError('no credentials for the R2 replica', "set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY (an R2 API token's S3 keys)");
    }
    return {
      ...base,
      provider: 'r2',
      endpoint: checkEndpoint(endpoint),
      region: options.region ?? 'auto',
      forcePathStyle: true,
      credentials: credentials.value,
      credentialSource: `environment (${credentials.from})`,
    };
  }
  if (url.scheme === 'gs') {
    const credentials = pair(env, 'GCS_HMAC_ACCESS_ID', 'GCS_HMAC_SECRET') ?? pair(env, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY');
    if (!credentials) {
      throw usageError(
        'no HMAC keys for the Google Cloud Storage replica',
        'create an HMAC key for a service account and set GCS_HMAC_ACCESS_ID and GCS_HMAC_SECRET (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
      );
    }
    return {
      ...base,
      provider: 'gcs',
      endpoint: checkEndpoint(options.endpoint ?? 'https://storage.googleapis.com'),
      region: options.region ?? 'auto',
      forcePathStyle: true,
      credentials: credentials.value,
      credentialSource: `environment (${credentials.from})`,
    };
  }
  const credentials = pair(env, 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN');
  const endpoint = options.endpoint === undefined ? undefined : checkEndpoint(options.endpoint);
  return {
    ...base,
    provider: endpoint ? 'custom' : 'aws',
    endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: endpoint !== undefined,
    credentials: credentials?.value,
    credentialSource: credentials
      ? `environment (${credentials.from})`
      : 'AWS default chain (AWS_PROFILE / shared config, web identity, container or instance role)',
  };
}

function pair(
  env: NodeJS.ProcessEnv,
  idName: string,
  secretName: string,
  tokenName?: string,
): { value: StaticCredentials; from: string } | undefined {
  const accessKeyId = env[idName]?.trim();
  const secretAccessKey = env[secretName]?.trim();
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey) {
    throw usageError(
      `${accessKeyId ? idName : secretName} is set but ${accessKeyId ? secretName : idName} is not`,
      `set both ${idName} and ${secretName}`,
    );
  }
  registerSecret(accessKeyId);
  registerSecret(secretAccessKey);
  const sessionToken = tokenName ? env[tokenName]?.trim() : undefined;
  if (sessionToken) registerSecret(sessionToken);
  return {
    value: sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey },
    from: `${idName}, ${secretName}`,
  };
}

function checkEndpoint(endpoint: string): string {
  let parsed: URL;
  try {
    parsed = new URL(endpoint);
  } catch {
    throw usageError(`endpoint "${endpoint}" is not a URL`, 'write it as https://host[:port] (or http:// for a local server)');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(`endpoint "${endpoint}" must be http:// or https://`, 'write it as https://host[:port]');
  }
  if (parsed.username || parsed.password) {
    throw usageError(
      'the endpoint URL must not contain credentials',
      'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment instead',
    );
  }
  return endpoint.replace(/\/+$/, '');
}
