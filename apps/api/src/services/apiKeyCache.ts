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
 * A key change committed this long ago is seen by every API process: DELETE /v1/keys/{id} waits
 * this long before it answers (changesVisible), so the revoked key is refused from the next request on.
 */
export const KEY_CHANGES_VISIBLE_MS = 200;

/** Resolves once a key change committed before the call is seen by every API process. */
export const keyChangesVisible = () => new Promise<void>((resolve) => setTimeout(resolve, KEY_CHANGES_VISIBLE_MS + 5));

/**
 * API key → tenant, remembered per process so that a request costs no database round trip.
 * Entries are trusted only while the LISTEN connection is up: a revocation or deletion
 * (trigger → NOTIFY) drops the key's entry, and a reconnection drops them all (notifications
 * sent meanwhile are lost). Unknown and revoked keys are never cached.
 *
 * When is a notification surely handled? A round trip on the listening connection (sync: a
 * SELECT 1) is answered after the notifications committed before it was sent. A hit is trusted
 * while the last answered sync was sent within KEY_CHANGES_VISIBLE_MS, so a change committed
 * that long before the request is handled before the hit is believed; a busy process sends a
 * sync in the background every half of that, an idle one waits for one on its next request.
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
  /** performance.now() when the last sync that was answered (on the current connection) was sent. */
  let syncedSentAt = -Infinity;
  let inFlight: { sentAt: number; done: Promise<boolean> } | null = null;
  /** Bumped by every notification: a lookup that raced one does not cache what it read. */
  let generation = 0;
  const forget = (keyHash?: string) => {
    generation += 1;
    if (keyHash !== undefined) {
      entries.delete(keyHash);
      return;
    }
    entries.clear();
    // Syncs answered on a lost connection say nothing about the next one.
    syncedSentAt = -Infinity;
    inFlight = null;
  };
  const channel = listenToChannel(databaseUrl, API_KEY_CHANNEL, {
    onMessage: (keyHash) => forget(keyHash),
    onConnected: () => forget(),
    onError: (error) => {
      forget();
      logger.warn({ err: error.message }, "API key notifications interrupted; reconnecting");
    },
  });

  function sync(): Promise<boolean> {
    const sentAt = performance.now();
    const done = channel.sync().then((ok) => {
      if (ok) syncedSentAt = Math.max(syncedSentAt, sentAt);
      if (inFlight?.done === done) inFlight = null;
      return ok;
    });
    inFlight = { sentAt, done };
    return done;
  }
  /** Resolves true once a sync sent within KEY_CHANGES_VISIBLE_MS has been answered; concurrent requests share one. */
  function synced(): boolean | Promise<boolean> {
    const now = performance.now();
    const age = now - syncedSentAt;
    if (age < KEY_CHANGES_VISIBLE_MS) {
      if (age > KEY_CHANGES_VISIBLE_MS / 2 && !inFlight) void sync();
      return true;
    }
    if (inFlight && inFlight.sentAt > now - KEY_CHANGES_VISIBLE_MS) return inFlight.done;
    return sync();
  }

  return {
    async tenantFor(key: string): Promise<string | null> {
      const keyHash = hashApiKey(key);
      const hit = entries.get(keyHash);
      const fresh = hit && hit.until > Date.now() ? synced() : false;
      if (hit && (fresh === true || (fresh !== false && (await fresh))) && entries.get(keyHash) === hit) {
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
