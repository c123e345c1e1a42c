import pg from "pg";

export interface ChannelHandlers {
  onMessage: (payload: string) => void;
  /** After a (re)connection: notifications sent while disconnected are lost, so listeners should catch up. */
  onConnected?: () => void;
  onError?: (error: Error) => void;
}

/** How long to wait before connecting again after the connection was lost. */
const RECONNECT_DELAY_MS = 1_000;

/**
 * One PostgreSQL connection that LISTENs on a channel for as long as it is open, reconnecting
 * when it is lost. Prisma's pool cannot LISTEN (a pooled connection is not kept), hence pg.
 */
export function listenToChannel(databaseUrl: string, channel: string, handlers: ChannelHandlers) {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({ connectionString: databaseUrl });
    next.on("notification", (message) => {
      if (message.channel === channel && message.payload !== undefined) handlers.onMessage(message.payload);
    });
    next.on("error", (error) => {
      handlers.onError?.(error);
      lost(next);
    });
    next.on("end", () => lost(next));
    try {
      await next.connect();
      await next.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
    } catch (error) {
      handlers.onError?.(error as Error);
      lost(next);
      return;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    handlers.onConnected?.();
  }

  function lost(which: pg.Client) {
    // An old connection's late error: the current one is fine.
    if (client !== null && client !== which) return;
    client = null;
    which.removeAllListeners("end");
    void which.end().catch(() => undefined);
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      void connect();
    }, RECONNECT_DELAY_MS);
    retry.unref();
  }

  const ready = connect();
  return {
    /** Resolves once the first connection attempt has finished (listening or not). */
    ready,
    get listening() {
      return client !== null;
    },
    /**
     * Resolves true once every notification committed before the call has been handled: a round
     * trip on the listening connection, which PostgreSQL answers after the notifications pending
     * for it. False when not listening (then nothing can be assumed).
     */
    async sync(): Promise<boolean> {
      const current = client;
      if (!current) return false;
      try {
        await current.query("SELECT 1");
        return client === current;
      } catch {
        return false;
      }
    },
    async close(): Promise<void> {
      closed = true;
      if (retry) clearTimeout(retry);
      await ready;
      const current = client;
      client = null;
      if (current) {
        current.removeAllListeners("end");
        await current.end().catch(() => undefined);
      }
    },
  };
}
