/** The S3 operations the proxy tells apart, so a fault or quirk can target one of them. */
export type S3Operation =
  | 'put-object'
  | 'get-object'
  | 'head-object'
  | 'delete-object'
  | 'list'
  | 'delete-multi'
  | 'create-multipart'
  | 'upload-part'
  | 'complete-multipart'
  | 'abort-multipart'
  | 'bucket'
  | 'other';

/** One request as the proxy understands it (path-style addressing: `/bucket/key`). */
export interface ClassifiedRequest {
  method: string;
  operation: S3Operation;
  bucket: string;
  /** The object key, decoded; empty for bucket-level requests. */
  key: string;
}

/** Classifies a path-style S3 request by method, path and query (virtual-host style is not used against custom endpoints). */
export function classifyRequest(method: string, url: string): ClassifiedRequest {
  const parsed = new URL(url, 'http://proxy.invalid');
  const [, bucket = '', ...rest] = parsed.pathname.split('/');
  const key = safeDecode(rest.join('/'));
  const query = parsed.searchParams;
  const m = method.toUpperCase();
  const operation = ((): S3Operation => {
    if (key === '') {
      if (m === 'GET' && bucket !== '') return 'list';
      if (m === 'POST' && query.has('delete')) return 'delete-multi';
      return bucket === '' ? 'other' : 'bucket';
    }
    if (m === 'PUT') return query.has('partNumber') && query.has('uploadId') ? 'upload-part' : 'put-object';
    if (m === 'POST' && query.has('uploads')) return 'create-multipart';
    if (m === 'POST' && query.has('uploadId')) return 'complete-multipart';
    if (m === 'DELETE') return query.has('uploadId') ? 'abort-multipart' : 'delete-object';
    if (m === 'GET') return 'get-object';
    if (m === 'HEAD') return 'head-object';
    return 'other';
  })();
  return { method: m, operation, bucket: safeDecode(bucket), key };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
