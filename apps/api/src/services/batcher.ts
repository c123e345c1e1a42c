/**
 * Gathers calls that arrive while a batch is under way into the next batch, so that concurrent
 * requests share one round trip (one INSERT, one Redis pipeline) and a lone request waits for
 * nothing. `run` answers one result per item, in order, or throws for the whole batch.
 */
export function createBatcher<Item, Result>(run: (items: Item[]) => Promise<Result[]>, maxBatch = 500) {
  type Waiting = { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void };
  let waiting: Waiting[] = [];
  let running = false;

  async function drain() {
    running = true;
    while (waiting.length > 0) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
      try {
        const results = await run(batch.map((entry) => entry.item));
        batch.forEach((entry, i) => entry.resolve(results[i]!));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    running = false;
  }

  return (item: Item): Promise<Result> =>
    new Promise<Result>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!running) void drain();
    });
}
