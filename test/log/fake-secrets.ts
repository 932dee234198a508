/** Fake credentials shaped like real ones (AWS documentation examples and random-looking filler). */
const accessKeyId = 'AKIAIOSFODNN7EXAMPLE';
const tempAccessKeyId = 'ASIAQWERTYUIOPASDFGH';
const secretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const sessionToken = 'FwoGZXIvYXdzEBYaDHq8Zm9vYmFyYmF6cXV4IqwBc2Vzc2lvbi10b2tlbi1mb3ItdGVzdHMtb25seQ+/1Zk7aGVsbG8tdGhlcmU=';
const signature = '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7';

export const FAKE = {
  accessKeyId,
  tempAccessKeyId,
  secretKey,
  sessionToken,
  signature,
  hmacKey: 'hmac-key-0123456789abcdef0123456789abcdef',
  presignedUrl:
    'https://bucket.s3.amazonaws.com/backups/app.db?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
    `&X-Amz-Credential=${tempAccessKeyId}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request` +
    '&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900' +
    `&X-Amz-Security-Token=${encodeURIComponent(sessionToken)}` +
    `&X-Amz-Signature=${signature}&X-Amz-SignedHeaders=host`,
} as const;
