import type { ReplicaEncryption } from '../format/replica-marker.js';

/** What the replica marker says about encryption, as AgeStore reads it (`id`: the replica's, which its plaintextBefore seal names). */
export type MarkerView = { kind: 'absent' } | { kind: 'plain' } | { kind: 'encrypted'; encryption: ReplicaEncryption; id?: string };

/** The marker's bytes as a MarkerView; a damaged marker is `absent` here (readReplicaMarker reports it). */
export function markerView(bytes: Buffer): MarkerView {
  try {
    const marker = JSON.parse(bytes.toString('utf8')) as { encryption?: ReplicaEncryption; id?: unknown };
    if (marker.encryption === undefined) return { kind: 'plain' };
    const id = typeof marker.id === 'string' ? marker.id : undefined;
    if (marker.encryption.scheme !== 'age' || !Array.isArray(marker.encryption.recipients))
      return { kind: 'encrypted', encryption: { scheme: 'age', recipients: [] }, id };
    return { kind: 'encrypted', encryption: marker.encryption, id };
  } catch {
    // readReplicaMarker reports a damaged marker; until then nothing is refused on its account.
    return { kind: 'absent' };
  }
}

/** Whether an object the store dated `lastModified` is plaintext by its date alone in a replica the view describes (sizes only: the time is not checked against its seal). */
export function datedPlaintext(lastModified: Date, view: MarkerView): boolean {
  if (view.kind !== 'encrypted') return view.kind === 'plain';
  const before = view.encryption.plaintextBefore === undefined ? NaN : Date.parse(view.encryption.plaintextBefore);
  return Number.isFinite(before) && Math.floor(lastModified.getTime() / 1000) * 1000 < before;
}
