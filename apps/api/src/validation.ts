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

/** How deep a request's JSON may nest; no part of the API needs more than a few levels. */
export const MAX_NESTING = 32;

/** A high surrogate without a low one after it, or a low one without a high one before it (matched per UTF-16 code unit). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL cannot store this string (text and jsonb refuse NUL and unpaired UTF-16 surrogates), or null. */
export function unstorableReason(text: string): string | null {
  if (text.includes("\0")) return "must not contain a NUL character (U+0000)";
  if (LONE_SURROGATE.test(text)) return "must not contain an unpaired UTF-16 surrogate (U+D800–U+DFFF)";
  return null;
}

/** A value still to check, with the way to it (paths are only spelled out for an error). */
interface Pending {
  value: unknown;
  parent: Pending | null;
  key: string | number;
  depth: number;
}

function pathOf(node: Pending, prefix: (string | number)[], last?: string | number): string {
  const keys: (string | number)[] = last === undefined ? [] : [last];
  for (let at: Pending | null = node; at && at.parent; at = at.parent) keys.push(at.key);
  return [...prefix, ...keys.reverse()].join(".");
}

/**
 * Every string (keys included) that PostgreSQL could not store, and nesting past MAX_NESTING,
 * as field errors. Iterative, so no input can overflow the stack here.
 */
export function unstorableFieldErrors(value: unknown, prefix: (string | number)[] = []): FieldError[] {
  const errors: FieldError[] = [];
  const stack: Pending[] = [{ value, parent: null, key: "", depth: 0 }];
  while (stack.length > 0 && errors.length < 20) {
    const node = stack.pop()!;
    const current = node.value;
    if (typeof current === "string") {
      const reason = unstorableReason(current);
      if (reason) errors.push({ path: pathOf(node, prefix), message: reason });
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (node.depth >= MAX_NESTING) {
      errors.push({ path: pathOf(node, prefix), message: `nested more than ${MAX_NESTING} levels deep` });
      continue;
    }
    const depth = node.depth + 1;
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) stack.push({ value: current[index], parent: node, key: index, depth });
      continue;
    }
    for (const key in current) {
      if (!Object.hasOwn(current, key)) continue;
      const reason = unstorableReason(key);
      if (reason) {
        const shown = key.replace(new RegExp(LONE_SURROGATE, "g"), "\uFFFD").replaceAll("\0", "\\0");
        errors.push({ path: pathOf(node, prefix, shown), message: `field name ${reason}` });
        continue;
      }
      stack.push({ value: (current as Record<string, unknown>)[key], parent: node, key, depth });
    }
  }
  return errors;
}

/**
 * Fastify validator for zod schemas that throws a RequestValidationError (→ 400 problem). Every
 * part of every request (path, query, headers, body) is first checked for strings PostgreSQL
 * cannot store, so no route can reach the database with one.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const unstorable = unstorableFieldErrors(data);
    if (unstorable.length > 0) return { error: new RequestValidationError(httpPart ?? "request", unstorable) };
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    return { error: new RequestValidationError(httpPart ?? "request", fieldErrorsFromIssues(result.error.issues)) };
  };
