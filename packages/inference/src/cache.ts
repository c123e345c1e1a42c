/**
 * Least-recently-used entries held to a byte budget. The entry just set stays even when it alone
 * is over the budget (a request needs it); everything older is evicted until the rest fits.
 * Returns the evicted keys.
 */
export function createModelCache<T>(budgetBytes: number, dispose: (value: T) => void) {
  const entries = new Map<string, { value: T; bytes: number }>();
  let total = 0;

  return {
    get(key: string): T | undefined {
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    set(key: string, value: T, bytes: number): string[] {
      const existing = entries.get(key);
      if (existing) {
        entries.delete(key);
        total -= existing.bytes;
        if (existing.value !== value) dispose(existing.value);
      }
      entries.set(key, { value, bytes });
      total += bytes;
      const evicted: string[] = [];
      for (const [oldest, entry] of entries) {
        if (total <= budgetBytes || oldest === key) break;
        entries.delete(oldest);
        total -= entry.bytes;
        dispose(entry.value);
        evicted.push(oldest);
      }
      return evicted;
    },
    keys: () => [...entries.keys()],
    bytes: () => total,
  };
}
