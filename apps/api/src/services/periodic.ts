/**
 * Runs `run` now and every `intervalMs`, never two at once: a tick that finds the previous run
 * still going joins it. A failed run is reported to `onError` and tried again on the next tick.
 */
export function createPeriodicTask(run: () => Promise<unknown>, onError: (error: Error) => void) {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  const runNow = (): Promise<void> => {
    running ??= run()
      .then(() => undefined, onError)
      .finally(() => (running = null));
    return running;
  };
  return {
    runNow,
    start(intervalMs: number) {
      void runNow();
      timer = setInterval(runNow, intervalMs);
    },
    /** Stops the ticks and waits for a run in progress. */
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
