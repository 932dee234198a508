/** An ETag without quotes or a weak `W/` marker, the form ObjectInfo carries (servers differ in what they send). */
export function normalizeEtag(etag: string | undefined): string {
  if (etag === undefined) return '';
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}
