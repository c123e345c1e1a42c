import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { badRequest, problemResponses } from "../../problems.ts";
import { webhookUrlProblem } from "../../services/webhooks/addressPolicy.ts";
import { SWEEP_STATUSES, TRIAL_STATUSES } from "../../services/sweeps/service.ts";
import { MAX_TRIALS, sweepSpecSchema } from "../../services/sweeps/sweepSpec.ts";

const sweepIdParams = z.strictObject({ id: z.string().min(1) });

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).optional(),
});

const paramsSchema = z.record(z.string(), z.unknown()).describe("dotted path → the value this trial has");

const sweepSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(SWEEP_STATUSES),
  spec: z.record(z.string(), z.unknown()).describe("the sweep as submitted, defaults filled in"),
  trials: z.object({
    total: z.number().int(),
    queued: z.number().int().describe("including trials not yet submitted"),
    running: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    pruned: z.number().int(),
    cancelled: z.number().int(),
  }),
  best: z
    .object({ jobId: z.string(), params: paramsSchema, value: z.number() })
    .nullable()
    .describe("the trial with the best objective value recorded at any epoch so far"),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});

const trialSchema = z.object({
  index: z.number().int(),
  jobId: z.string().nullable().describe("null until the planner submits the trial"),
  params: paramsSchema,
  status: z.enum(TRIAL_STATUSES),
  pruned: z.boolean().describe("stopped by ASHA at an epoch boundary (its job is cancelled and keeps its metrics)"),
  value: z.number().nullable().describe("its best objective value so far"),
  epochsDone: z.number().int(),
  error: z.string().nullable(),
});

const CREATE_DESCRIPTION =
  "Starts a hyperparameter sweep (202). Every trial (each grid combination, or each of `trials` random draws from `seed`) " +
  "is validated as a job at submit: one invalid trial is a 400 naming it and its parameters. " +
  `At most ${MAX_TRIALS} trials. The trials are ordinary jobs of the tenant tagged \`sweep:{id}\`, submitted at most ` +
  "`maxParallel` at a time; with `pruning` (ASHA) a trial outside the top 1/reductionFactor at a rung " +
  "(minEpochs·reductionFactor^k epochs) is cancelled at that epoch boundary and marked pruned.";

const sweeps: FastifyPluginAsyncZod = async (app) => {
  const { sweeps: service, config } = app.deps;

  app.post(
    "/sweeps",
    {
      schema: {
        body: sweepSpecSchema,
        response: { 202: sweepSchema, ...problemResponses(400, 401, 413, 429) },
        tags: ["sweeps"],
        description: CREATE_DESCRIPTION,
      },
    },
    async (request, reply) => {
      // The trials' webhook is refused now, as a job's is, rather than at each delivery.
      const webhook = request.body.base.webhook as { url?: unknown } | null | undefined;
      const problem =
        typeof webhook?.url === "string" ? await webhookUrlProblem(webhook.url, config.TRAINYARD_WEBHOOK_ALLOW_PRIVATE) : null;
      if (problem) throw badRequest("the webhook URL is refused", [{ path: "base.webhook.url", message: problem }]);
      const sweep = await service.create(request.tenantId, request.body);
      return reply.status(202).header("location", `/v1/sweeps/${sweep.id}`).send(sweep);
    },
  );

  app.get(
    "/sweeps",
    {
      schema: {
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(sweepSchema), nextCursor: z.string().nullable() }), ...problemResponses(400, 401, 429) },
        tags: ["sweeps"],
        description: "The tenant's sweeps, newest first.",
      },
    },
    async (request) => service.list(request.tenantId, request.query),
  );

  app.get(
    "/sweeps/:id",
    { schema: { params: sweepIdParams, response: { 200: sweepSchema, ...problemResponses(401, 404, 429) }, tags: ["sweeps"] } },
    async (request) => service.get(request.tenantId, request.params.id),
  );

  app.get(
    "/sweeps/:id/trials",
    {
      schema: {
        params: sweepIdParams,
        response: { 200: z.object({ items: z.array(trialSchema) }), ...problemResponses(401, 404, 429) },
        tags: ["sweeps"],
        description: "Every trial in index order, with its parameters, status and objective value.",
      },
    },
    async (request) => service.trials(request.tenantId, request.params.id),
  );

  app.post(
    "/sweeps/:id/cancel",
    {
      schema: {
        params: sweepIdParams,
        response: { 202: sweepSchema, ...problemResponses(401, 404, 409, 429) },
        tags: ["sweeps"],
        description: "Submits no more trials and cancels the unfinished ones. A finished sweep: 409.",
      },
    },
    async (request, reply) => reply.status(202).send(await service.cancel(request.tenantId, request.params.id)),
  );
};

export default sweeps;
