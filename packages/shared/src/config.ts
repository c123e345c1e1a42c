import { z } from "zod";

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

/** Where checkpoints and models are stored: settings the API and the worker must read the same way. */
export const ARTIFACT_STORE_SETTINGS = {
  /** Where new checkpoints and models go: unset, PostgreSQL (bytea chunks); s3://bucket/prefix, an S3-compatible bucket. */
  TRAINYARD_ARTIFACTS_URL: z
    .string()
    .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, "s3://bucket or s3://bucket/prefix")
    .optional(),
  /** The S3 endpoint (MinIO, Ceph, R2…; unset: AWS); credentials come from the SDK's chain (AWS_ACCESS_KEY_ID…). */
  AWS_ENDPOINT_URL_S3: z.string().url().optional(),
  AWS_ENDPOINT_URL: z.string().url().optional(),
  AWS_REGION: z.string().min(1).optional(),
  /** Bucket in the path, not the host name; unset: on with a custom endpoint, off on AWS. */
  AWS_S3_FORCE_PATH_STYLE: z
    .enum(["true", "false"])
    .optional()
    .transform((value) => (value === undefined ? undefined : value === "true")),
};
