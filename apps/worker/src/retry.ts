import type { Logger } from "pino";

export interface WriteRetryPolicy {
  /** Give up after this long; the caller then fails the attempt (BullMQ retries it). */
  maxElapsedMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DATABASE_WRITE_RETRY: WriteRetryPolicy = { maxElapsedMs: 10 * 60_000, initialDelayMs: 200, maxDelayMs: 5_000 };

/**
 * Retries a write while PostgreSQL is away: training goes on in the child meanwhile, and its
 * messages wait in order, so a metrics row is late rather than lost.
 */
export async function withRetry<T>(
  what: string,
  write: () => Promise<T>,
  logger: Logger,
  policy: WriteRetryPolicy = DATABASE_WRITE_RETRY,
): Promise<T> {
  const startedAt = Date.now();
  let delay = policy.initialDelayMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write();
    } catch (error) {
      if (Date.now() - startedAt + delay > policy.maxElapsedMs) throw error;
      logger.warn({ err: (error as Error).message, attempt, retryInMs: delay }, `${what} failed; retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(policy.maxDelayMs, delay * 2);
    }
  }
}
