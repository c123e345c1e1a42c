import type { FastifySchemaCompiler } from "fastify";
import type { ZodType, core } from "zod";
import { RequestValidationError, type FieldError } from "./problems.ts";

/** zod issues → field errors; an unknown key is reported at its own path, not its parent's. */
export function fieldErrorsFromIssues(issues: core.$ZodIssue[], prefix: (string | number)[] = []): FieldError[] {
  return issues.flatMap((issue): FieldError[] => {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))];
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ path: [...path, key].join("."), message: "unknown field" }));
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0];
      return fieldErrorsFromIssues(closest, path);
    }
    return [{ path: path.join("."), message: issue.message }];
  });
}

/** Fastify validator for zod schemas that throws a RequestValidationError (→ 400 problem). */
export const zodValidatorCompiler: FastifySchemaCompiler<ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    return { error: new RequestValidationError(httpPart ?? "request", fieldErrorsFromIssues(result.error.issues)) };
  };
