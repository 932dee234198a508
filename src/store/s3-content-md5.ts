import { createHash } from 'node:crypto';
import type { DeleteObjectsCommand, DeleteObjectsCommandInput, DeleteObjectsCommandOutput } from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';

interface RequestWithBody {
  headers: Record<string, string>;
  body?: unknown;
}

/**
 * Gives DeleteObjects a Content-MD5 header computed from the serialized body, and removes the CRC32
 * checksum headers the SDK adds there even with `requestChecksumCalculation: 'WHEN_REQUIRED'`.
 * DeleteObjects requires an integrity header; several S3-compatible servers accept only Content-MD5
 * and some reject any `x-amz-checksum-*` header. Runs before signing, after the SDK's checksum step.
 */
export function addContentMd5(command: DeleteObjectsCommand): DeleteObjectsCommand {
  const middleware: FinalizeRequestMiddleware<DeleteObjectsCommandInput, DeleteObjectsCommandOutput> = (next) => async (args) => {
    const request = args.request as RequestWithBody | undefined;
    const body = request?.body;
    if (request !== undefined && (typeof body === 'string' || body instanceof Uint8Array)) {
      request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
      for (const name of Object.keys(request.headers)) {
        const lower = name.toLowerCase();
        if (lower.startsWith('x-amz-checksum-') || lower === 'x-amz-sdk-checksum-algorithm') delete request.headers[name];
      }
    }
    return next(args);
  };
  // Right before signing: after the build step, where the SDK's checksum middleware adds its headers.
  command.middlewareStack.addRelativeTo(middleware, {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 'persistdContentMd5',
    override: true,
  });
  return command;
}
