import { createHash } from 'node:crypto';
import type { DeleteObjectsCommand, DeleteObjectsCommandInput, DeleteObjectsCommandOutput } from '@aws-sdk/client-s3';
import type { BuildMiddleware } from '@smithy/types';

interface RequestWithBody {
  headers: Record<string, string>;
  body?: unknown;
}

/**
 * Adds a Content-MD5 header computed from the serialized body. DeleteObjects requires an integrity
 * header; with `requestChecksumCalculation: 'WHEN_REQUIRED'` recent SDKs send only CRC32, which
 * several S3-compatible servers do not accept in place of Content-MD5.
 */
export function addContentMd5(command: DeleteObjectsCommand): DeleteObjectsCommand {
  const middleware: BuildMiddleware<DeleteObjectsCommandInput, DeleteObjectsCommandOutput> = (next) => async (args) => {
    const request = args.request as RequestWithBody | undefined;
    const body = request?.body;
    if (request !== undefined && (typeof body === 'string' || body instanceof Uint8Array)) {
      request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
    }
    return next(args);
  };
  command.middlewareStack.add(middleware, { step: 'build', name: 'persistdContentMd5', override: true });
  return command;
}
