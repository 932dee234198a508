/** setuid, setgid, sticky and world-writable bits. */
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;
const S_IWOTH = 0o002;

/**
 * The permission bits a restore sets from a mode read from the bucket. Whoever can write to the bucket
 * chooses these bits, and a restore often runs as root: unless `allowSpecial` (the user's
 * `restoreSpecialModes` setting), setuid and setgid are dropped, and so is world-write unless the
 * sticky bit is set too (a shared folder like `/tmp`, where only an entry's owner may remove it).
 */
export function restoredMode(mode: number, allowSpecial: boolean): number {
  const bits = mode & 0o7777;
  if (allowSpecial) return bits;
  let masked = bits & ~(S_ISUID | S_ISGID);
  if ((masked & S_IWOTH) !== 0 && (masked & S_ISVTX) === 0) masked &= ~S_IWOTH;
  return masked;
}

/** How a masked mode is shown in reports: `6777 -> 0775`. */
export function describeMasked(mode: number, masked: number): string {
  const octal = (m: number): string => m.toString(8).padStart(4, '0');
  return `${octal(mode & 0o7777)} -> ${octal(masked)}`;
}
