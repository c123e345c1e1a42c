import { z } from "zod";
import { JOB_STATUSES } from "@trainyard/shared";

export const jobIdParams = z.strictObject({ id: z.string().min(1) });

export const listJobsQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  tag: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).optional(),
});

export const createJobQuery = z.strictObject({
  dryRun: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
});

export const metricsQuery = z.strictObject({ format: z.enum(["json", "csv"]).default("json") });

export const modelQuery = z.strictObject({ checkpoint: z.enum(["best", "last"]).default("best") });

export const modelFileParams = z.strictObject({ id: z.string().min(1), file: z.string().min(1) });
