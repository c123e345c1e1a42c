import { z } from "zod";

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

/** RFC 9457 problem details, as every error of the API answers them (plugins/app/errorHandler.ts builds them). */
export const problemSchema = z.object({
  type: z.string().describe("https://trainyard.dev/problems/{status}"),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).describe("every offending field path (a 400); otherwise empty"),
  requestId: z.string().optional().describe("quote it when reporting a problem"),
});
export type ProblemBody = z.input<typeof problemSchema>;

type ProblemStatus = 400 | 401 | 404 | 409 | 413 | 429;

const PROBLEM_DESCRIPTIONS: Record<ProblemStatus, string> = {
  400: "invalid input: `errors` names every offending field",
  401: "a missing, unknown or revoked API key",
  404: "not found (another tenant's object too)",
  409: "the object's state does not allow it",
  413: "the body is over the limit",
  429: "too many requests: retry after `Retry-After` seconds",
};

/** Error answers for a route's `response` schema: each status as `application/problem+json`. */
export function problemResponses<S extends ProblemStatus>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: PROBLEM_DESCRIPTIONS[status], content: { "application/problem+json": { schema: problemSchema } } },
    ]),
  ) as Record<S, { description: string; content: { "application/problem+json": { schema: typeof problemSchema } } }>;
}

/** A 204's declared answer: no body (null to the serializer, no content in the OpenAPI document). */
export const NO_CONTENT = z.null().describe("no content");
