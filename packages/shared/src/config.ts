import type { z } from "zod";

/** Parses an app's environment once at start; every problem is named in one error, the result is frozen. */
export function parseConfig<Schema extends z.ZodType>(schema: Schema, env: NodeJS.ProcessEnv, app: string): Readonly<z.output<Schema>> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new Error(`invalid ${app} configuration: ${problems}`);
  }
  return Object.freeze(parsed.data);
}

/** TF.js backends a worker can be configured for (TRAINYARD_BACKEND); `auto` takes the first that loads. */
export const BACKEND_PREFERENCES = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];
