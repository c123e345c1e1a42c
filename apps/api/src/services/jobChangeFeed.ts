import { listenToChannel } from "@trainyard/db";
import type { FastifyBaseLogger } from "fastify";

/** The channel the database's triggers notify with a job's id (migration 20261202120000_job_change_notify). */
export const JOB_CHANGES_CHANNEL = "trainyard_job_changes";

export interface JobChangeFeed {
  /** Calls `listener` whenever the job gets an event or its status or progress changes; answers the unsubscribe. */
  subscribe(jobId: string, listener: () => void): () => void;
  subscriberCount(): number;
  close(): Promise<void>;
}

/**
 * One LISTEN connection for every event stream of this process: a notification wakes just the
 * streams of that job, so an idle stream costs no query. After a lost connection every stream
 * is woken once, since notifications sent meanwhile are gone.
 */
export function createJobChangeFeed(databaseUrl: string, logger: FastifyBaseLogger): JobChangeFeed {
  const listeners = new Map<string, Set<() => void>>();
  let connectedBefore = false;
  const wakeAll = () => {
    for (const set of listeners.values()) for (const listener of set) listener();
  };
  const channel = listenToChannel(databaseUrl, JOB_CHANGES_CHANNEL, {
    onMessage: (jobId) => {
      for (const listener of listeners.get(jobId) ?? []) listener();
    },
    onConnected: () => {
      if (connectedBefore) wakeAll();
      connectedBefore = true;
    },
    onError: (error) => logger.warn({ err: error.message }, "job change notifications interrupted; reconnecting"),
  });
  return {
    subscribe(jobId, listener) {
      let set = listeners.get(jobId);
      if (!set) listeners.set(jobId, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(jobId) === set) listeners.delete(jobId);
      };
    },
    subscriberCount: () => [...listeners.values()].reduce((sum, set) => sum + set.size, 0),
    close: () => channel.close(),
  };
}
