/**
 * V8 doubles its young generation (the two semi-spaces of short-lived objects) each time enough
 * has survived collections since the last doubling. validate and send stream every row through
 * short-lived objects, so a long file reaches each next size sooner or later: a 1M-row file ends
 * at 16 MiB, a 5M-row one at 32 MiB — peak memory that grew with the file's length, for nothing it
 * keeps. Held at 16 MiB (the size a 1M-row file reaches within its first second, so the collector
 * works as it did there), peak memory no longer depends on the file's length.
 *
 * On Node 20 neither size flag can do it at run time (--max-semi-space-size is read only when the
 * heap is set up), but --semi-space-growth-factor is read at each doubling, and 1 stops it; on the
 * command line a value below 2 is reset to 2, so only setting it at run time works.
 */
export const YOUNG_GENERATION_HELD_AT = 16 * 1024 * 1024;

export interface YoungGeneration {
  /** The young generation's size now, in bytes. */
  bytes(): number;
  /** Keep it at the size it has. */
  stopGrowing(): void;
}

/** Look every `everyMs` (a timer that does not keep the process alive); stop the growth once it is at `limit`. */
export function holdYoungGeneration(young: YoungGeneration, limit: number = YOUNG_GENERATION_HELD_AT, everyMs = 50): void {
  const timer = setInterval(() => {
    if (young.bytes() < limit) return;
    young.stopGrowing();
    clearInterval(timer);
  }, everyMs);
  timer.unref();
}
