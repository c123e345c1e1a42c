import { ModelOptionError } from "./errors.ts";

export type OptionSpec =
  | { kind: "number"; default: number; integer?: boolean; min?: number; max?: number; oneOf?: readonly number[] }
  | { kind: "boolean"; default: boolean }
  | { kind: "choice"; default: string; oneOf: readonly string[] }
  | { kind: "integers"; default: readonly number[]; length: number };

type OptionValue<S extends OptionSpec> = S extends { kind: "boolean" }
  ? boolean
  : S extends { kind: "choice"; oneOf: readonly (infer Choice)[] }
    ? Choice
    : S extends { kind: "integers" }
      ? number[]
      : number;

export type ParsedOptions<S extends Record<string, OptionSpec>> = { [K in keyof S]: OptionValue<S[K]> };

function invalid(key: string, expected: string, value: unknown): ModelOptionError {
  return new ModelOptionError(`${key} must be ${expected}, got ${JSON.stringify(value)}`, `architectureOptions.${key}`);
}

function readOne(key: string, spec: OptionSpec, value: unknown): unknown {
  if (value === undefined) return spec.default;
  switch (spec.kind) {
    case "boolean":
      if (typeof value !== "boolean") throw invalid(key, "true or false", value);
      return value;
    case "choice":
      if (typeof value !== "string" || !spec.oneOf.includes(value)) throw invalid(key, `one of ${spec.oneOf.join(", ")}`, value);
      return value;
    case "integers":
      if (!Array.isArray(value) || value.length !== spec.length || !value.every((v) => Number.isInteger(v) && v > 0)) {
        throw invalid(key, `${spec.length} positive integers`, value);
      }
      return [...value];
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) throw invalid(key, "a number", value);
      if (spec.oneOf && !spec.oneOf.includes(value)) throw invalid(key, `one of ${spec.oneOf.join(", ")}`, value);
      if (spec.integer && !Number.isInteger(value)) throw invalid(key, "an integer", value);
      if (spec.min !== undefined && value < spec.min) throw invalid(key, `at least ${spec.min}`, value);
      if (spec.max !== undefined && value > spec.max) throw invalid(key, `at most ${spec.max}`, value);
      return value;
    }
  }
}

/** Validates a family's options against its spec, filling defaults; unknown keys are errors (typos must not pass silently). */
export function readOptions<S extends Record<string, OptionSpec>>(raw: Record<string, unknown> | undefined, spec: S): ParsedOptions<S> {
  const given = raw ?? {};
  const unknown = Object.keys(given).filter((key) => !(key in spec));
  if (unknown.length > 0) {
    const known = Object.keys(spec);
    throw new ModelOptionError(
      `unknown option ${unknown.join(", ")}; this architecture takes ${known.length > 0 ? known.join(", ") : "no options"}`,
      `architectureOptions.${unknown[0]}`,
    );
  }
  return Object.fromEntries(Object.entries(spec).map(([key, s]) => [key, readOne(key, s, given[key])])) as ParsedOptions<S>;
}
