import type { Slot } from "./devices.ts";

/** What the board does to a slot's queue consumer while another job holds the slot. */
export interface SlotQueueControl {
  /** Stop taking jobs (a job already being fetched may still arrive: `take` refuses it). */
  pause(device: string): void;
  /** Take jobs again. */
  resume(device: string): void;
}

/**
 * Which job each slot of this worker runs, its own or as an extra device of a data-parallel job
 * (training.devices > 1). One slot's processor takes a job from the queue; for N devices it
 * claims N − 1 other idle GPU slots here, all at once or none. A claimed slot's queue consumer is
 * paused, so it takes no job until the data-parallel job releases it. Everything happens on the
 * supervisor's one thread: a claim cannot interleave with another.
 */
export class SlotBoard {
  /** Device → the job it runs (its own or as an extra device). */
  private readonly jobs = new Map<string, string>();
  /** Job id → the extra slots it holds. */
  private readonly extras = new Map<string, Slot[]>();

  constructor(
    private readonly slots: Slot[],
    private readonly control: SlotQueueControl,
  ) {}

  /**
   * The slot's consumer took `jobId` from the queue: true if the slot is free for it, false when
   * a data-parallel job holds the slot (the caller hands the job back).
   */
  take(device: string, jobId: string): boolean {
    const holder = this.jobs.get(device);
    if (holder !== undefined && holder !== jobId) return false;
    this.jobs.set(device, jobId);
    return true;
  }

  /** The slot's own job ended (its extra slots, if any, are released too). */
  release(device: string, jobId: string): void {
    this.releaseExtras(jobId);
    if (this.jobs.get(device) === jobId) this.jobs.delete(device);
  }

  /**
   * `count` idle GPU slots besides `owner` for `jobId`, in slot order, paused until released; or
   * null (nothing claimed) when fewer are idle. `total` says how many GPU slots the worker has.
   */
  claimExtras(owner: string, jobId: string, count: number): { slots: Slot[] } | { idle: number; total: number } {
    const gpus = this.slots.filter((slot) => slot.gpu !== null);
    const idle = gpus.filter((slot) => slot.device !== owner && !this.jobs.has(slot.device));
    if (idle.length < count) return { idle: idle.length, total: gpus.length };
    const claimed = idle.slice(0, count);
    for (const slot of claimed) {
      this.jobs.set(slot.device, jobId);
      this.control.pause(slot.device);
    }
    this.extras.set(jobId, claimed);
    return { slots: claimed };
  }

  /** Gives a data-parallel job's extra slots back to the queue. */
  releaseExtras(jobId: string): void {
    for (const slot of this.extras.get(jobId) ?? []) {
      if (this.jobs.get(slot.device) === jobId) this.jobs.delete(slot.device);
      this.control.resume(slot.device);
    }
    this.extras.delete(jobId);
  }

  /** The job a slot runs now (its own or as an extra device), for the heartbeat. */
  jobOn(device: string): string | null {
    return this.jobs.get(device) ?? null;
  }
}
