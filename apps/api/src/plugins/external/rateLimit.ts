import fp from "fastify-plugin";
import type { FastifyReply, FastifyRequest } from "fastify";
import { tooManyRequests } from "../../problems.ts";
import { bearerToken, hashApiKey } from "../../services/apiKeys.ts";
import { createRateLimitLeases, type Take } from "./rateLimitLeases.ts";

const WINDOW_MS = 60_000;

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the rate limiter when this request was counted against its client address. */
    rateLimitAddressKey: string | null;
    /** Set by the rate limiter when this request was counted against its key before authentication. */
    rateLimitKeyHit: Take | null;
  }
}

function limited(max: number, ttlMs: number, whose: string) {
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
  return tooManyRequests(`more than ${max} requests a minute ${whose}; retry in ${seconds} s`, seconds);
}

function setHeaders(reply: FastifyReply, max: number, count: number, ttlMs: number) {
  reply.header("x-ratelimit-limit", max);
  reply.header("x-ratelimit-remaining", Math.max(0, max - count));
  reply.header("x-ratelimit-reset", Math.max(1, Math.ceil(ttlMs / 1000)));
}

/**
 * Limits every route of the scope it is registered in (the /v1 scope: health, metrics and
 * OpenAPI stay exempt), TRAINYARD_RATE_LIMIT_PER_MINUTE each:
 * - per client address, before the key is looked up: every request counts until its key turns
 *   out valid (then it is given back), so missing, unknown and revoked keys (guessing) are
 *   limited, and a spent address answers 429 without a database lookup;
 * - per valid API key (hashed, never stored), counted once authentication succeeded; a key
 *   that has spent its requests answers 429 before its lookup too. A key that authenticated
 *   in this window skips the address count (so guessing from a shared address does not lock
 *   out its valid keys); should it fail now (revoked), the failure is counted against the address
 *   and the key goes back to being counted there.
 * Counts are shared by every API process through Redis and spent from in-process leases
 * (rateLimitLeases.ts): a busy key or address costs a Redis round trip per batch of requests,
 * not per request. If Redis is away, requests pass.
 */
export default fp(
  async (app) => {
    const { config, redis } = app.deps;
    const max = config.TRAINYARD_RATE_LIMIT_PER_MINUTE;
    const leases = createRateLimitLeases(redis, { namespace: `${config.TRAINYARD_QUEUE_PREFIX}:rate-limit:`, max, windowMs: WINDOW_MS });
    const keyBucket = (token: string) => `key:${hashApiKey(token)}`;
    const addressBucket = (request: FastifyRequest) => `ip:${request.ip}`;
    app.decorateRequest("rateLimitAddressKey", null);
    app.decorateRequest("rateLimitKeyHit", null);

    app.addHook("onRequest", async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      const key = token ? keyBucket(token) : null;
      if (key && leases.holds(key)) {
        const hit = await leases.take(key);
        if (hit && !hit.allowed) throw limited(max, hit.msLeft, "for this API key");
        request.rateLimitKeyHit = hit;
        return;
      }
      const addressKey = addressBucket(request);
      const hit = await leases.take(addressKey);
      if (!hit || hit.allowed) {
        request.rateLimitAddressKey = hit ? addressKey : null;
        return;
      }
      // A spent address: a key that authenticated this window (in any API process) is still let through on its own count.
      const keyHit = key ? await leases.takeIfCounted(key) : "uncounted";
      if (keyHit === "uncounted") throw limited(max, hit.msLeft, "without a valid API key from this address");
      if (keyHit && !keyHit.allowed) throw limited(max, keyHit.msLeft, "for this API key");
      request.rateLimitKeyHit = keyHit;
    });

    // preParsing runs after every onRequest hook of the scope, so after authentication.
    app.addHook("preParsing", async (request, reply) => {
      if (!request.tenantId) return;
      let hit = request.rateLimitKeyHit;
      if (!hit && request.rateLimitAddressKey) {
        leases.giveBack(request.rateLimitAddressKey);
        hit = await leases.take(keyBucket(bearerToken(request.headers.authorization)!));
      }
      if (!hit) return;
      setHeaders(reply, max, hit.count, hit.msLeft);
      if (!hit.allowed) throw limited(max, hit.msLeft, "for this API key");
    });

    // A key that skipped the address count and then failed (revoked since) loses that privilege.
    app.addHook("onResponse", async (request, reply) => {
      if (reply.statusCode !== 401 || request.rateLimitAddressKey || !request.rateLimitKeyHit) return;
      await leases.forget(keyBucket(bearerToken(request.headers.authorization)!));
      await leases.take(addressBucket(request));
    });
  },
  { name: "rate-limit", dependencies: ["deps"] },
);
