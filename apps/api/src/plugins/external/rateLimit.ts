import fp from "fastify-plugin";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import { tooManyRequests } from "../../problems.ts";
import { bearerToken, hashApiKey } from "../../services/apiKeys.ts";

const WINDOW_MS = 60_000;

/**
 * Before authentication, one round trip: KEYS[1] the presented key's bucket (or none), KEYS[2]
 * the address's. A key spent this window answers { 1, count, ttl } (limited, not counted); a key
 * already counted this window is counted now, ahead of its lookup ({ 2, count, ttl }: a failed
 * lookup forgets it); otherwise the address is counted ({ 3, count, ttl }).
 */
const ARRIVE = `
local max = tonumber(ARGV[2])
if KEYS[1] ~= "" then
  local spent = tonumber(redis.call("GET", KEYS[1]) or "0")
  if spent >= max then return { 1, spent, redis.call("PTTL", KEYS[1]) } end
  if spent > 0 then
    local count = redis.call("INCR", KEYS[1])
    if redis.call("PTTL", KEYS[1]) < 0 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
    return { 2, count, redis.call("PTTL", KEYS[1]) }
  end
end
local count = redis.call("INCR", KEYS[2])
if count == 1 then redis.call("PEXPIRE", KEYS[2], ARGV[1]) end
return { 3, count, redis.call("PTTL", KEYS[2]) }`;

/**
 * After authentication succeeded for a request counted against its address, one round trip:
 * gives that request back to the address (KEYS[1]; never below zero, never creating a key without
 * an expiry) and counts it against the key (KEYS[2]); answers the key's count and milliseconds left.
 */
const AUTHENTICATED = `
if redis.call("EXISTS", KEYS[1]) == 1 and tonumber(redis.call("GET", KEYS[1])) > 0 then redis.call("DECR", KEYS[1]) end
local count = redis.call("INCR", KEYS[2])
if count == 1 then redis.call("PEXPIRE", KEYS[2], ARGV[1]) end
return { count, redis.call("PTTL", KEYS[2]) }`;

/** A key that skipped the address count and then failed: forgets the key (KEYS[1]) and counts the address (KEYS[2]). */
const FAILED = `
redis.call("DEL", KEYS[1])
local count = redis.call("INCR", KEYS[2])
if count == 1 then redis.call("PEXPIRE", KEYS[2], ARGV[1]) end
return count`;

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the rate limiter when this request was counted against its client address. */
    rateLimitAddressKey: string | null;
    /** Set by the rate limiter when this request was counted against its key before authentication: [count, ms left]. */
    rateLimitKeyHit: [number, number] | null;
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
 * Counters live in Redis, shared by every API process; if Redis is away, requests pass.
 */
export default fp(
  async (app) => {
    const { config, redis } = app.deps;
    const max = config.TRAINYARD_RATE_LIMIT_PER_MINUTE;
    const namespace = `${config.TRAINYARD_QUEUE_PREFIX}:rate-limit:`;
    // Sent as EVALSHA (ioredis loads a script once per connection), not the script's text with every request.
    const scripts = { ARRIVE, AUTHENTICATED, FAILED };
    for (const [name, lua] of Object.entries(scripts)) (redis as Redis).defineCommand(`trainyardRateLimit${name}`, { lua });
    type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;
    const run = <T>(name: keyof typeof scripts, keys: string[], ...args: (string | number)[]) => {
      const command = (redis as unknown as Record<string, ScriptCommand>)[`trainyardRateLimit${name}`]!;
      return command.call(redis, keys.length, ...keys, ...args).then(
        (value) => value as T,
        () => null,
      );
    };
    const keyBucket = (token: string) => `${namespace}key:${hashApiKey(token)}`;
    const addressBucket = (request: FastifyRequest) => `${namespace}ip:${request.ip}`;
    app.decorateRequest("rateLimitAddressKey", null);
    app.decorateRequest("rateLimitKeyHit", null);

    app.addHook("onRequest", async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      const addressKey = addressBucket(request);
      const hit = await run<[number, number, number]>("ARRIVE", [token ? keyBucket(token) : "", addressKey], WINDOW_MS, max);
      if (!hit) return;
      const [outcome, count, ttl] = hit;
      if (outcome === 1) throw limited(max, ttl, "for this API key");
      if (outcome === 2) {
        request.rateLimitKeyHit = [count, ttl];
        return;
      }
      request.rateLimitAddressKey = addressKey;
      if (count > max) throw limited(max, ttl, "without a valid API key from this address");
    });

    // preParsing runs after every onRequest hook of the scope, so after authentication.
    app.addHook("preParsing", async (request, reply) => {
      if (!request.tenantId) return;
      const hit =
        request.rateLimitKeyHit ??
        (request.rateLimitAddressKey
          ? await run<[number, number]>(
              "AUTHENTICATED",
              [request.rateLimitAddressKey, keyBucket(bearerToken(request.headers.authorization)!)],
              WINDOW_MS,
            )
          : null);
      if (!hit) return;
      setHeaders(reply, max, hit[0], hit[1]);
      if (hit[0] > max) throw limited(max, hit[1], "for this API key");
    });

    // A key that skipped the address count and then failed (revoked since) loses that privilege.
    app.addHook("onResponse", async (request, reply) => {
      if (reply.statusCode !== 401 || request.rateLimitAddressKey) return;
      const token = bearerToken(request.headers.authorization);
      await run("FAILED", [token ? keyBucket(token) : `${namespace}key:`, addressBucket(request)], WINDOW_MS);
    });
  },
  { name: "rate-limit", dependencies: ["deps"] },
);
