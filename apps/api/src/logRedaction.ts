import type { FastifyRequest } from "fastify";

/** Query parameters whose values are secrets (tokens, keys, passwords, signatures): never written to a log. */
const SECRET_PARAMETER = /token|key|secret|passw|pwd|auth|sig|credential|session|cookie|code/i;

export const REDACTED = "[REDACTED]";

/** Where a URL or a value inside it carries credentials: `user:pass@` anywhere in it (absolute-form or nested). */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/|^\/\/)[^/?#@\s]*@/gi;
const HAS_USERINFO = new RegExp(USERINFO.source, "i");

/**
 * A request URL fit for a log: the values of secret-looking query parameters and any
 * `user:password@` (in an absolute-form request target or in a URL passed as a value) replaced.
 */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf("?");
  const path = (queryAt === -1 ? url : url.slice(0, queryAt)).replace(USERINFO, `$1${REDACTED}@`);
  if (queryAt === -1) return path;
  const query = url
    .slice(queryAt + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals === -1) return pair;
      const rawName = pair.slice(0, equals);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replaceAll("+", " "));
      } catch {
        // Not valid percent-encoding: judge it as it is.
      }
      if (SECRET_PARAMETER.test(name)) return `${rawName}=${REDACTED}`;
      let value = pair.slice(equals + 1);
      try {
        value = decodeURIComponent(value.replaceAll("+", " "));
      } catch {
        // Leave it encoded.
      }
      return HAS_USERINFO.test(value) ? `${rawName}=${REDACTED}` : pair;
    })
    .join("&");
  return `${path}?${query}`;
}

/** Fastify's default request serializer, with the URL redacted. */
export function requestSerializer(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
