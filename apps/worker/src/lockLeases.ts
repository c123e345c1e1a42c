/**
 * What this worker knows of its queue locks. BullMQ renews each running job's lock; a renewal
 * Redis refuses (another worker took the job) or none confirmed for most of the lock's duration
 * (Redis unreachable, the process frozen) means the lock is, or is about to be, gone — and
 * another worker may start the job. The job's training child must be stopped before that.
 */
export interface LockLease {
  /** True once the lock is lost or may lapse before the next renewal could land. */
  lost(): boolean;
  /** Runs `stop` when the lease is lost (at once if it already is). */
  onLost(stop: () => void): void;
  release(): void;
}

export class LockLeases {
  private readonly leases = new Map<string, { confirmedAt: number; failed: boolean; stop: (() => void) | null }>();
  private readonly timer: NodeJS.Timeout;

  /**
   * @param lockDurationMs the queue lock's duration
   * @param marginMs how long before the lock would lapse the lease counts as lost
   */
  constructor(
    private readonly lockDurationMs: number,
    private readonly marginMs = lockDurationMs / 4,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.check(), Math.max(100, lockDurationMs / 8));
    this.timer.unref();
  }

  /** A job whose lock this worker has just taken (fetching it from the queue). */
  hold(jobId: string): LockLease {
    const lease = { confirmedAt: this.now(), failed: false, stop: null as (() => void) | null };
    this.leases.set(jobId, lease);
    const lost = () => lease.failed || this.now() - lease.confirmedAt > this.lockDurationMs - this.marginMs;
    return {
      lost,
      onLost: (stop) => {
        lease.stop = stop;
        if (lost()) this.fire(jobId);
      },
      release: () => {
        if (this.leases.get(jobId) === lease) this.leases.delete(jobId);
      },
    };
  }

  /** BullMQ's `locksRenewed`: these jobs' locks run for another lock duration from now. */
  renewed(jobIds: string[]): void {
    const at = this.now();
    for (const jobId of jobIds) {
      const lease = this.leases.get(jobId);
      if (lease && !lease.failed) lease.confirmedAt = at;
    }
  }

  /** BullMQ's `lockRenewalFailed`: Redis no longer has these jobs locked by this worker. */
  failed(jobIds: string[]): void {
    for (const jobId of jobIds) {
      const lease = this.leases.get(jobId);
      if (!lease) continue;
      lease.failed = true;
      this.fire(jobId);
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const at = this.now();
    for (const [jobId, lease] of this.leases) {
      if (at - lease.confirmedAt > this.lockDurationMs - this.marginMs) {
        lease.failed = true;
        this.fire(jobId);
      }
    }
  }

  private fire(jobId: string): void {
    const lease = this.leases.get(jobId);
    const stop = lease?.stop;
    if (!lease || !stop) return;
    lease.stop = null;
    stop();
  }
}
