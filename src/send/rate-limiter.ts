/** At most `perSecond` recipients a second, a batch at a time (no limit when undefined). */
export class RateLimiter {
  private nextFree = 0;

  constructor(
    private readonly perSecond: number | undefined,
    private readonly now: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {}

  async take(recipients: number, signal?: AbortSignal): Promise<void> {
    if (this.perSecond === undefined) return;
    const now = this.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (recipients / this.perSecond) * 1000;
    if (start > now) await this.sleep(start - now, signal);
  }
}
