import type { IncomingHttpHeaders } from 'node:http';
import type { ClassifiedRequest } from './s3-operation.js';

/** Behaviours of real S3-compatible services the proxy imitates in front of a server that has none of them. */
export interface ProviderQuirks {
  /** 400 for `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm` headers, `Content-Encoding: aws-chunked` and `STREAMING-*` payloads (R2, B2 with the 2025 SDK defaults). */
  rejectChecksums?: boolean;
  /** 400 MissingContentMD5 for a DeleteObjects without Content-MD5 (MinIO-style). */
  requireDeleteMd5?: boolean;
  /** If-None-Match / If-Match are dropped before forwarding, so the server overwrites (needs `keys` to re-sign). */
  noConditionalWrites?: boolean;
  /** ETags without quotes, in headers and XML bodies. */
  unquotedEtags?: boolean;
  /** More than this many UploadPart requests at once: 503 SlowDown. */
  maxConcurrentParts?: number;
}

/** Why a quirk refuses a request: the S3 error to answer with. */
export interface QuirkRejection {
  quirk: keyof ProviderQuirks;
  status: number;
  code: string;
  message: string;
}

/** The first quirk that refuses this request outright, if any (concurrency is checked by the proxy, which counts). */
export function rejectByQuirk(
  quirks: ProviderQuirks,
  request: ClassifiedRequest,
  headers: IncomingHttpHeaders,
): QuirkRejection | undefined {
  if (quirks.rejectChecksums === true) {
    const checksumHeader = Object.keys(headers).find(
      (name) => name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm' || name === 'x-amz-trailer',
    );
    if (checksumHeader !== undefined) {
      return { quirk: 'rejectChecksums', status: 400, code: 'NotImplemented', message: `Header '${checksumHeader}' is not implemented` };
    }
    if (/aws-chunked/i.test(String(headers['content-encoding'] ?? ''))) {
      return { quirk: 'rejectChecksums', status: 400, code: 'InvalidArgument', message: 'aws-chunked encoding is not supported' };
    }
    if (String(headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-')) {
      return { quirk: 'rejectChecksums', status: 400, code: 'InvalidArgument', message: 'streaming payload signatures are not supported' };
    }
  }
  if (quirks.requireDeleteMd5 === true && request.operation === 'delete-multi' && headers['content-md5'] === undefined) {
    return {
      quirk: 'requireDeleteMd5',
      status: 400,
      code: 'MissingContentMD5',
      message: 'Missing required header for this request: Content-Md5.',
    };
  }
  return undefined;
}

/** Whether the request carries a condition that `noConditionalWrites` strips. */
export function hasWriteCondition(headers: IncomingHttpHeaders, request: ClassifiedRequest): boolean {
  const writes = request.operation === 'put-object' || request.operation === 'complete-multipart';
  return writes && (headers['if-none-match'] !== undefined || headers['if-match'] !== undefined);
}

/** An ETag value without its quotes. */
export function unquoteEtag(value: string): string {
  return value.replace(/^"(.*)"$/, '$1');
}

/** An XML body with every `<ETag>` value unquoted (listings, CompleteMultipartUpload, CopyObject results). */
export function unquoteEtagsInXml(xml: string): string {
  return xml.replace(/<ETag>(?:&quot;|&#34;|")(.*?)(?:&quot;|&#34;|")<\/ETag>/g, '<ETag>$1</ETag>');
}
