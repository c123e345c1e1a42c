import type { FastifyBaseLogger } from "fastify";
import { listenToChannel, type Db } from "@trainyard/db";
import { hashApiKey } from "./apiKeys.ts";

/** The channel the ApiKey trigger notifies with a changed key's hash (migration 20261202130000_api_key_notify). */
export const API_KEY_CHANNEL = "trainyard_api_keys";
const MAX_ENTRIES = 10_000;
/** Belt and braces: an entry is looked up again after this long even without a notification. */
const TTL_MS = 5 * 60_000;
/** lastUsedAt is written at most this often per key and process: a request costs no write. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * API key → tenant, remembered per process so that a request costs no key query through
 * Prisma (a shared SELECT 1 on the LISTEN connection instead). Entries are trusted only while
 * that connection is up: a revocation or deletion (trigger → NOTIFY) drops the key's entry, and
 * a reconnection drops them all (notifications sent meanwhile are lost). Unknown and revoked
 * keys are never cached.
 */
export function createApiKeyCache(db: Db, databaseUrl: string, logger: FastifyBaseLogger) {
  const entries = new Map<string, { tenantId: string; until: number }>();
  const lastUsedWritten = new Map<string, number>();
  /** Records the key's use in the background; the ApiKey trigger ignores lastUsedAt, so no entry is dropped. */
  const noteUse = (keyHash: string) => {
    const now = Date.now();
    if (now - (lastUsedWritten.get(keyHash) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    if (lastUsedWritten.size >= MAX_ENTRIES) lastUsedWritten.delete(lastUsedWritten.keys().next().value!);
    lastUsedWritten.set(keyHash, now);
    db.apiKey
      .updateMany({ where: { keyHash }, data: { lastUsedAt: new Date(now) } })
      .catch((error: Error) => logger.warn({ err: error.message }, "could not record an API key's lastUsedAt"));
  };
  /** Bumped by every notification: a lookup that raced one does not cache what it read. */
  let generation = 0;
  const forget = (keyHash?: string) => {
    generation += 1;
    if (keyHash === undefined) entries.clear();
    else entries.delete(keyHash);
  };
  const channel = listenToChannel(databaseUrl, API_KEY_CHANNEL, {
    onMessage: (keyHash) => forget(keyHash),
    onConnected: () => forget(),
    onError: (error) => {
      forget();
      logger.warn({ err: error.message }, "API key notifications interrupted; reconnecting");
    },
  });

  /**
   * Resolves once the notifications committed before the call are handled, so that a key
   * revoked before a request arrived is refused by it, in every API process. Concurrent
   * requests share one round trip: those arriving while one is in flight wait for the next.
   */
  let inFlight: Promise<boolean> | null = null;
  let following: Promise<boolean> | null = null;
  function synced(): Promise<boolean> {
    if (!inFlight) {
      inFlight = channel.sync().finally(() => (inFlight = null));
      return inFlight;
    }
    following ??= inFlight.then(() => {
      following = null;
      return synced();
    });
    return following;
  }

  return {
    async tenantFor(key: string): Promise<string | null> {
      const keyHash = hashApiKey(key);
      const hit = entries.get(keyHash);
      if (hit && hit.until > Date.now() && (await synced()) && entries.get(keyHash) === hit) {
        noteUse(keyHash);
        return hit.tenantId;
      }
      const started = generation;
      const record = await db.apiKey.findUnique({ where: { keyHash }, select: { tenantId: true, revokedAt: true } });
      if (!record || record.revokedAt) {
        entries.delete(keyHash);
        return null;
      }
      if (channel.listening && generation === started) {
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
        entries.set(keyHash, { tenantId: record.tenantId, until: Date.now() + TTL_MS });
      }
      noteUse(keyHash);
      return record.tenantId;
    },
    close: () => channel.close(),
  };
}

export type ApiKeyCache = ReturnType<typeof createApiKeyCache>;
