import { createRequire } from 'node:module';
import type * as ClientS3 from '@aws-sdk/client-s3';

let sdk: typeof ClientS3 | undefined;

/**
 * The AWS SDK's S3 package, loaded on first use (it is CommonJS, so synchronously): a file:// replica,
 * and every command that makes no S3 request, starts without its ~120 ms of module loading.
 */
export function s3Sdk(): typeof ClientS3 {
  sdk ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof ClientS3;
  return sdk;
}
