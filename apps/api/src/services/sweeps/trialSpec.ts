import { jobSpecInputSchema, type ParsedJobSpec } from "@trainyard/shared";
import { ModelOptionError } from "@trainyard/models";
import type { Db } from "@trainyard/db";
import { badRequest, Problem, type FieldError } from "../../problems.ts";
import type { ArchitectureSummaries } from "../architectures/summaries.ts";
import { normalizeSpec } from "../specNormalizer.ts";
import { applyParams, type TrialParams } from "./searchSpace.ts";
import type { SweepSpec } from "./sweepSpec.ts";

export const sweepTag = (sweepId: string) => `sweep:${sweepId}`;

/** The job body of one trial: the base with its parameters set and the sweep's tag added. */
export function trialJobInput(spec: SweepSpec, sweepId: string, params: TrialParams): Record<string, unknown> {
  const input = applyParams(spec.base, params);
  const tags = Array.isArray(input.tags) ? input.tags : [];
  return { ...input, tags: [...tags, sweepTag(sweepId)] };
}

/** A field error of the job spec, named as the sweep's request names it. */
function sweepPath(path: string, params: TrialParams): string {
  const swept = Object.keys(params).find((parameter) => path === parameter || path.startsWith(`${parameter}.`));
  return swept ? `parameters.${swept}` : path ? `base.${path}` : "base";
}

const describeParams = (params: TrialParams) =>
  Object.entries(params)
    .map(([path, value]) => `${path}=${JSON.stringify(value)}`)
    .join(", ");

/**
 * Parses and checks one trial as POST /v1/jobs would (schema, data set, architecture, budgets),
 * answering the parsed spec; an invalid one is a 400 naming the trial and its parameters.
 */
export async function validateTrial(
  deps: { db: Db; architectures: ArchitectureSummaries },
  tenantId: string,
  input: Record<string, unknown>,
  index: number,
  params: TrialParams,
): Promise<ParsedJobSpec> {
  const invalid = (errors: FieldError[]) =>
    badRequest(
      `trial ${index} (${describeParams(params)}) is not a valid job`,
      errors.map((error) => ({ path: sweepPath(error.path, params), message: error.message })),
    );
  const parsed = jobSpecInputSchema.safeParse(input);
  if (!parsed.success) throw invalid(parsed.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })));
  try {
    const { spec, dataset } = await normalizeSpec(deps.db, tenantId, parsed.data);
    await deps.architectures.summary(
      spec.architecture,
      { inputShape: spec.inputShape, classes: dataset.classes, options: spec.architectureOptions },
      { classes: "dataset", inputShape: "inputShape", architectureOptions: "architectureOptions" },
    );
  } catch (error) {
    if (error instanceof Problem && error.status === 400)
      throw invalid(error.errors.length > 0 ? error.errors : [{ path: "", message: error.message }]);
    if (error instanceof ModelOptionError) throw invalid([{ path: error.path, message: error.message }]);
    throw error;
  }
  return parsed.data;
}
