import type { Redis } from "ioredis";

/**
 * Takes up to ARGV[3] of a window's requests from KEYS[1] at once (fewer when fewer are left):
 * answers { granted, count after, ms left }; { 0, count, ms left } once the window is spent;
 * { -1, 0, 0 } when ARGV[4] is "1" and the bucket has no count this window. ARGV[1] is the
 * window (ms), ARGV[2] the most requests it allows.
 */
const LEASE = `
local current = tonumber(redis.call("GET", KEYS[1]) or "0")
if ARGV[4] == "1" and current == 0 then return { -1, 0, 0 } end
local max = tonumber(ARGV[2])
if current >= max then return { 0, current, redis.call("PTTL", KEYS[1]) } end
local granted = math.min(tonumber(ARGV[3]), max - current)
local count = redis.call("INCRBY", KEYS[1], granted)
if redis.call("PTTL", KEYS[1]) < 0 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return { granted, count, redis.call("PTTL", KEYS[1]) }`;

/** A lease used up faster than this asks for twice as many requests next time; a slower one for one. */
const FAST_LEASE_MS = 250;
/** Expired leases are swept at most this often. */
const SWEEP_EVERY_MS = 10_000;

/** One bucket's requests this process took from Redis ahead of need. */
interface Lease {
  /** The window's count once the next leased request is spent, and the last one leased. */
  next: number;
  last: number;
  /** Requests given back (counted against this bucket, then found to belong to another): spent again first. */
  returned: number;
  /** Date.now() when the window ends. */
  resetAt: number;
  leasedAt: number;
  /** How many requests the next lease asks for. */
  batch: number;
  /** Redis answered that the window is spent. */
  spent: boolean;
  renewing: Promise<void> | null;
}

export interface Take {
  allowed: boolean;
  /** The bucket's count this window with this request (for X-RateLimit-Remaining). */
  count: number;
  msLeft: number;
}

/**
 * Fixed one-minute windows per bucket (an address, a key), shared by every API process through
 * Redis, spent in-process: a process leases a batch of a bucket's requests in one round trip
 * and spends them without asking again. A bucket starts with batches of one, so a slow client's
 * count is exact; a busy one's batches double up to `maxBatch`, so a process at most holds that
 * many requests unspent (which no other process may spend this window: the limit errs towards
 * refusing). If Redis does not answer, requests pass (`take` answers null).
 */
export function createRateLimitLeases(redis: Redis, options: { namespace: string; max: number; windowMs: number }) {
  const { max, windowMs } = options;
  const maxBatch = Math.max(1, Math.min(256, Math.floor(max / 64)));
  const leases = new Map<string, Lease>();
  let sweptAt = Date.now();
  const command = `trainyardRateLimitLease`;
  redis.defineCommand(command, { numberOfKeys: 1, lua: LEASE });
  const lease = (bucket: string, wanted: number, onlyIfCounted: boolean) =>
    (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<[number, number, number]>>)[command]!(
      `${options.namespace}${bucket}`,
      windowMs,
      max,
      wanted,
      onlyIfCounted ? "1" : "0",
    ).catch(() => null);

  function current(bucket: string, now: number): Lease | undefined {
    const found = leases.get(bucket);
    if (found && found.resetAt <= now) {
      leases.delete(bucket);
      return undefined;
    }
    return found;
  }

  function sweep(now: number) {
    if (now - sweptAt < SWEEP_EVERY_MS) return;
    sweptAt = now;
    for (const [bucket, found] of leases) if (found.resetAt <= now && !found.renewing) leases.delete(bucket);
  }

  /** Asks Redis for the bucket's next batch. */
  async function renew(bucket: string, found: Lease | undefined, onlyIfCounted: boolean): Promise<"leased" | "uncounted" | "unanswered"> {
    const now = Date.now();
    const batch = found && now - found.leasedAt < FAST_LEASE_MS ? Math.min(found.batch * 2, maxBatch) : 1;
    const answer = await lease(bucket, batch, onlyIfCounted);
    if (!answer) return "unanswered";
    if (answer[0] < 0) return "uncounted";
    const [granted, count, msLeft] = answer;
    const after = Date.now();
    sweep(after);
    const renewed = current(bucket, after) ?? {
      next: 1,
      last: 0,
      returned: 0,
      resetAt: 0,
      leasedAt: 0,
      batch,
      spent: false,
      renewing: null,
    };
    // Requests given back belong to the window they were counted in: a lease that starts a window drops them.
    if (count === granted) renewed.returned = 0;
    renewed.next = count - granted + 1;
    renewed.last = count;
    renewed.resetAt = after + Math.max(msLeft, 1);
    renewed.leasedAt = after;
    renewed.batch = batch;
    renewed.spent = granted === 0;
    leases.set(bucket, renewed);
    return "leased";
  }

  /** One request from the bucket; with onlyIfCounted, a bucket without a count this window is not started. */
  async function spend(bucket: string, onlyIfCounted: boolean): Promise<Take | "uncounted" | null> {
    for (;;) {
      const now = Date.now();
      const found = current(bucket, now);
      if (found?.renewing) {
        await found.renewing;
        continue;
      }
      if (found && found.returned > 0) {
        found.returned -= 1;
        return { allowed: true, count: found.next - 1, msLeft: found.resetAt - now };
      }
      if (found && found.next <= found.last) {
        const count = found.next;
        found.next += 1;
        return { allowed: true, count, msLeft: found.resetAt - now };
      }
      if (found?.spent) return { allowed: false, count: found.last + 1, msLeft: found.resetAt - now };
      const renewing = renew(bucket, found, onlyIfCounted && !found);
      if (found) found.renewing = renewing.then(() => undefined);
      const outcome = await renewing.finally(() => {
        if (found) found.renewing = null;
      });
      if (outcome === "uncounted") return "uncounted";
      if (outcome === "unanswered") return null;
    }
  }

  return {
    /** Whether this process holds a lease of the bucket this window (for a key: it authenticated here this window). */
    holds(bucket: string): boolean {
      return current(bucket, Date.now()) !== undefined;
    },

    /** Spends one of the bucket's requests: from this process's lease, else from a new one; null if Redis did not answer. */
    take: (bucket: string) => spend(bucket, false) as Promise<Take | null>,

    /** As take, but a bucket with no count this window (in any process) is left alone: answers "uncounted". */
    takeIfCounted: (bucket: string) => spend(bucket, true),

    /** A request counted against the bucket belongs to another: the next request here spends it again. */
    giveBack(bucket: string) {
      const found = current(bucket, Date.now());
      if (found) found.returned += 1;
    },

    /** Ends the bucket's window in every process that asks Redis next (this one at once). */
    async forget(bucket: string) {
      leases.delete(bucket);
      await redis.del(`${options.namespace}${bucket}`).catch(() => undefined);
    },
  };
}

export type RateLimitLeases = ReturnType<typeof createRateLimitLeases>;
