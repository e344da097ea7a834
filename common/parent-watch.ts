/**
 * A helper process (a local station, a benchmark station) belongs to the process that started
 * it: when that one dies without stopping it — a notebook kernel or script killed with SIGKILL —
 * the helper notices within a second and stops too, instead of lingering.
 */
export function whenParentIsGone(parentPid: number, stop: (reason: string) => void, intervalMs = 1000): void {
  const watch = setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      clearInterval(watch);
      stop(`parent process ${parentPid} is gone`);
    }
  }, intervalMs);
  watch.unref();
}
