import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { UsageError } from "./errors.ts";

/** A job or sweep spec from a .yaml, .yml or .json file (YAML is a superset of JSON). */
export function readSpecFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let spec: unknown;
  try {
    spec = parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not valid YAML or JSON: ${(error as Error).message.split("\n")[0]}`);
  }
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new UsageError(`${path} must hold one object (a spec)`);
  return spec as Record<string, unknown>;
}
