export interface DeliveryRetryPolicy {
  /** The wait after the first failed attempt; it doubles after each further one. */
  backoffMs: number;
  maxAttempts: number;
}

/** When to try again after failed attempt number `attempt` (1-based), or null to give up. */
export function nextAttemptAt(attempt: number, { backoffMs, maxAttempts }: DeliveryRetryPolicy, now: Date): Date | null {
  if (attempt >= maxAttempts) return null;
  return new Date(now.getTime() + backoffMs * 2 ** (attempt - 1));
}
