/** Errors that map to RFC 9457 problem details; everything else is a masked 500. */
export interface FieldError {
  path: string;
  message: string;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly errors: FieldError[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export const badRequest = (detail: string, errors: FieldError[] = []) => new Problem(400, "Bad Request", detail, errors);
export const unauthorized = (detail: string) => new Problem(401, "Unauthorized", detail);
export const notFound = (what: string) => new Problem(404, "Not Found", `${what} not found`);
export const conflict = (detail: string) => new Problem(409, "Conflict", detail);
export const payloadTooLarge = (detail: string) => new Problem(413, "Payload Too Large", detail);
export const tooManyRequests = (detail: string, retryAfterSeconds: number) =>
  new Problem(429, "Too Many Requests", detail, [], { "retry-after": String(retryAfterSeconds) });
export const unavailable = (detail: string) => new Problem(503, "Service Unavailable", detail, [], { "retry-after": "5" });

/** Raised by the zod validator: keeps zod's issues so every offending path can be named. */
export class RequestValidationError extends Error {
  constructor(
    readonly part: string,
    readonly fieldErrors: FieldError[],
  ) {
    super(`invalid ${part}: ${fieldErrors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`);
  }
}
