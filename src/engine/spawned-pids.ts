/**
 * Pids of the children persistd spawned itself (through child_process, i.e. libuv). libuv collects
 * their exit status with waitpid(pid), so the zombie reaper must never reap them. Whatever spawns a
 * child in persistd registers it here right after spawn() and releases it on 'exit'.
 */
const spawned = new Set<number>();

/** Marks `pid` as persistd's own child until `releaseSpawnedPid` is called. */
export function trackSpawnedPid(pid: number): void {
  spawned.add(pid);
}

/** Forgets `pid` once libuv has collected its exit status. */
export function releaseSpawnedPid(pid: number): void {
  spawned.delete(pid);
}

/** The pids the zombie reaper must leave alone. */
export function spawnedPids(): number[] {
  return [...spawned];
}
