import fp from "fastify-plugin";
import rateLimit from "@fastify/rate-limit";
import type { FastifyRequest } from "fastify";
import { tooManyRequests } from "../../problems.ts";
import { bearerToken, hashApiKey } from "../../services/apiKeys.ts";

/** Per API key (hashed, never stored), or per client address when no key is sent. */
function rateLimitKey(request: FastifyRequest): string {
  const key = bearerToken(request.headers.authorization);
  return key ? `key:${hashApiKey(key)}` : `ip:${request.ip}`;
}

/**
 * Limits every route of the scope it is registered in (the /v1 scope: health, metrics and
 * OpenAPI stay exempt). It runs before authentication, so guessing keys is limited too.
 * Counters live in Redis, shared by every API process; if Redis is away, requests pass.
 */
export default fp(
  async (app) => {
    const { config, redis } = app.deps;
    await app.register(rateLimit, {
      global: false,
      max: config.TRAINYARD_RATE_LIMIT_PER_MINUTE,
      timeWindow: 60_000,
      redis,
      nameSpace: `${config.TRAINYARD_QUEUE_PREFIX}:rate-limit:`,
      skipOnError: true,
      keyGenerator: rateLimitKey,
      errorResponseBuilder: (_request, context) =>
        tooManyRequests(
          `more than ${context.max} requests a minute; retry in ${context.after}`,
          Math.max(1, Math.ceil(context.ttl / 1000)),
        ),
    });
    app.addHook("onRequest", app.rateLimit());
  },
  { name: "rate-limit", dependencies: ["deps"] },
);
