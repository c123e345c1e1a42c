import fp from "fastify-plugin";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import { tooManyRequests } from "../../problems.ts";
import { bearerToken, hashApiKey } from "../../services/apiKeys.ts";

const WINDOW_MS = 60_000;

/** Counts one request in a fixed one-minute window; answers the count and the window's milliseconds left. */
const HIT = `
local count = redis.call("INCR", KEYS[1])
if count == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return { count, redis.call("PTTL", KEYS[1]) }`;

/** Gives back one request (never below zero, never creating a key without an expiry). */
const REFUND = `
if redis.call("EXISTS", KEYS[1]) == 1 and tonumber(redis.call("GET", KEYS[1])) > 0 then return redis.call("DECR", KEYS[1]) end
return 0`;

const FORGET = `return redis.call("DEL", KEYS[1])`;

/** The count and milliseconds left of a bucket, without counting. */
const PEEK = `return { tonumber(redis.call("GET", KEYS[1]) or "0"), redis.call("PTTL", KEYS[1]) }`;

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the rate limiter when this request was counted against its client address. */
    rateLimitAddressKey: string | null;
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
    const run = <T>(script: string, key: string, ...args: (string | number)[]) =>
      (redis as Redis).eval(script, 1, `${namespace}${key}`, ...args).then(
        (value) => value as T,
        () => null,
      );
    app.decorateRequest("rateLimitAddressKey", null);

    app.addHook("onRequest", async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      if (token) {
        const spent = await run<[number, number]>(PEEK, `key:${hashApiKey(token)}`);
        if (spent && spent[0] >= max) throw limited(max, spent[1], "for this API key");
        if (spent && spent[0] > 0) return;
      }
      const addressKey = `ip:${request.ip}`;
      const hit = await run<[number, number]>(HIT, addressKey, WINDOW_MS);
      if (!hit) return;
      request.rateLimitAddressKey = addressKey;
      if (hit[0] > max) throw limited(max, hit[1], "without a valid API key from this address");
    });

    // preParsing runs after every onRequest hook of the scope, so after authentication.
    app.addHook("preParsing", async (request, reply) => {
      if (!request.tenantId) return;
      if (request.rateLimitAddressKey) await run(REFUND, request.rateLimitAddressKey);
      const token = bearerToken(request.headers.authorization)!;
      const hit = await run<[number, number]>(HIT, `key:${hashApiKey(token)}`, WINDOW_MS);
      if (!hit) return;
      setHeaders(reply, max, hit[0], hit[1]);
      if (hit[0] > max) throw limited(max, hit[1], "for this API key");
    });

    // A key that skipped the address count and then failed (revoked since) loses that privilege.
    app.addHook("onResponse", async (request, reply) => {
      if (reply.statusCode !== 401 || request.rateLimitAddressKey) return;
      const token = bearerToken(request.headers.authorization);
      if (token) await run(FORGET, `key:${hashApiKey(token)}`);
      await run(HIT, `ip:${request.ip}`, WINDOW_MS);
    });
  },
  { name: "rate-limit", dependencies: ["deps"] },
);
