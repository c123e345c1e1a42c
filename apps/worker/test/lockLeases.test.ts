import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WORKER_TIMINGS } from "@trainyard/shared";
import { loadWorkerConfig } from "../src/config.ts";
import { LockLeases } from "../src/lockLeases.ts";

const LOCK_MS = 8_000;

describe("a worker's lock leases", () => {
  let leases: LockLeases;
  beforeEach(() => {
    vi.useFakeTimers();
    leases = new LockLeases(LOCK_MS);
  });
  afterEach(() => {
    leases.close();
    vi.useRealTimers();
  });

  it("hold while BullMQ confirms renewals, however long the job runs", () => {
    const stop = vi.fn();
    const lease = leases.hold("job_1");
    lease.onLost(stop);
    for (let i = 0; i < 30; i += 1) {
      vi.advanceTimersByTime(LOCK_MS / 4);
      leases.renewed(["job_1"]);
    }
    expect(lease.lost()).toBe(false);
    expect(stop).not.toHaveBeenCalled();
  });

  it("are lost, and the child stopped, before an unrenewed lock could lapse", () => {
    const stop = vi.fn();
    const lease = leases.hold("job_1");
    lease.onLost(stop);
    vi.advanceTimersByTime(LOCK_MS * 0.7);
    expect(stop).not.toHaveBeenCalled();
    vi.advanceTimersByTime(LOCK_MS * 0.2);
    expect(lease.lost()).toBe(true);
    expect(stop).toHaveBeenCalledTimes(1);
    // A late confirmation does not bring a stopped job back.
    leases.renewed(["job_1"]);
    expect(lease.lost()).toBe(true);
  });

  it("are lost at once when Redis refuses a renewal (another worker has the job), and only that job's", () => {
    const stopOne = vi.fn();
    const stopTwo = vi.fn();
    leases.hold("job_1").onLost(stopOne);
    const two = leases.hold("job_2");
    two.onLost(stopTwo);
    leases.failed(["job_1"]);
    expect(stopOne).toHaveBeenCalledTimes(1);
    expect(stopTwo).not.toHaveBeenCalled();
    expect(two.lost()).toBe(false);
  });

  it("stop a child started after the lease was already lost (a frozen process waking up)", () => {
    const lease = leases.hold("job_1");
    vi.setSystemTime(Date.now() + LOCK_MS * 2);
    const stop = vi.fn();
    lease.onLost(stop);
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it("forget released jobs", () => {
    const stop = vi.fn();
    const lease = leases.hold("job_1");
    lease.onLost(stop);
    lease.release();
    vi.advanceTimersByTime(LOCK_MS * 2);
    expect(stop).not.toHaveBeenCalled();
  });
});

describe("hand-off timings", () => {
  it("hand a dead worker's job on within 15 s of its last heartbeat, with a second to spare for the fetch and claim", () => {
    const { heartbeatMs, lockDurationMs, stalledCheckMs, lostAfterMs } = WORKER_TIMINGS;
    expect(heartbeatMs + lockDurationMs + stalledCheckMs).toBeLessThanOrEqual(14_000);
    // Three missed heartbeats at least before a worker is called lost.
    expect(lostAfterMs).toBeGreaterThanOrEqual(3 * heartbeatMs);
  });

  it("are the worker's defaults; TRAINYARD_METRICS_PORT is off unless set and must be a port", () => {
    const base = { DATABASE_URL: "postgresql://127.0.0.1:5432/test" };
    const config = loadWorkerConfig(base);
    expect(config.TRAINYARD_LOCK_DURATION_MS).toBe(WORKER_TIMINGS.lockDurationMs);
    expect(config.TRAINYARD_STALLED_INTERVAL_MS).toBe(WORKER_TIMINGS.stalledCheckMs);
    expect(config.TRAINYARD_METRICS_PORT).toBeUndefined();
    expect(loadWorkerConfig({ ...base, TRAINYARD_METRICS_PORT: "9464" }).TRAINYARD_METRICS_PORT).toBe(9464);
    expect(() => loadWorkerConfig({ ...base, TRAINYARD_METRICS_PORT: "70000" })).toThrow(/TRAINYARD_METRICS_PORT/);
    expect(() => loadWorkerConfig({ ...base, TRAINYARD_METRICS_PORT: "metrics" })).toThrow(/TRAINYARD_METRICS_PORT/);
  });
});
