import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { jobSpecInputSchema, type EpochMetrics } from "@trainyard/shared";
import { jobView, jobViewSchema } from "../../services/jobView.ts";
import { webhookUrlProblem } from "../../services/webhooks/addressPolicy.ts";
import { bearerToken, hashApiKey } from "../../services/apiKeys.ts";
import { badRequest, problemResponses } from "../../problems.ts";
import {
  createJobQuery,
  dryRunResponse,
  EVENTS_DESCRIPTION,
  eventsHeaders,
  eventsResponse,
  jobIdParams,
  jobListResponse,
  listJobsQuery,
  metricsQuery,
  metricsResponse,
  modelFileParams,
  modelFileResponse,
  modelQuery,
  modelZipResponse,
} from "./schemas.ts";
import webhookDeliveries from "./webhookDeliveries.ts";

const METRIC_COLUMNS: readonly (keyof EpochMetrics)[] = [
  "epoch",
  "trainLoss",
  "trainAccuracy",
  "valLoss",
  "valAccuracy",
  "learningRate",
  "seconds",
  "samplesPerSecond",
];

const CREATE_DESCRIPTION =
  "Queues a job (202) or, with dryRun=true, validates it and estimates its cost (200). A tenant may have " +
  "TRAINYARD_MAX_QUEUED_JOBS_PER_TENANT jobs queued at once (default 100); one more answers 429 with Retry-After. " +
  "A webhook URL with credentials, or one that is or resolves to a loopback, private or link-local address, is a 400. " +
  "A model over TRAINYARD_MAX_PARAMS parameters or TRAINYARD_MAX_ACTIVATIONS activation values per sample is a 400 " +
  "naming dataset (its classes), inputShape or architectureOptions, for a submit as for a dry run.";

const jobs: FastifyPluginAsyncZod = async (app) => {
  const { jobs: service, models, events, config } = app.deps;
  await app.register(webhookDeliveries);

  /** A webhook is checked as delivery would check it, so a refused address is a 400 now rather than a failed delivery later. */
  async function checkWebhook(webhook: { url: string } | null) {
    const problem = webhook ? await webhookUrlProblem(webhook.url, config.TRAINYARD_WEBHOOK_ALLOW_PRIVATE) : null;
    if (problem) throw badRequest("the webhook URL is refused", [{ path: "webhook.url", message: problem }]);
  }

  app.post(
    "/jobs",
    {
      schema: {
        body: jobSpecInputSchema,
        querystring: createJobQuery,
        response: {
          202: jobViewSchema.describe("the queued job"),
          200: z
            .union([jobViewSchema, dryRunResponse])
            .describe("the job an earlier request with this Idempotency-Key and body created, or (dryRun=true) the spec and estimate"),
          ...problemResponses(400, 401, 409, 413, 429),
        },
        tags: ["jobs"],
        description: CREATE_DESCRIPTION,
      },
    },
    async (request, reply) => {
      await checkWebhook(request.body.webhook);
      if (request.query.dryRun) return reply.status(200).send(await service.estimate(request.tenantId, request.body));
      const idempotencyKey = request.headers["idempotency-key"];
      const key = typeof idempotencyKey === "string" && idempotencyKey.length > 0 ? idempotencyKey.slice(0, 255) : undefined;
      const { job, created } = await service.create(request.tenantId, request.body, key);
      return reply
        .status(created ? 202 : 200)
        .header("location", `/v1/jobs/${job.id}`)
        .send(jobView(job));
    },
  );

  app.get(
    "/jobs",
    { schema: { querystring: listJobsQuery, response: { 200: jobListResponse, ...problemResponses(400, 401, 429) }, tags: ["jobs"] } },
    async (request) => {
      const page = await service.list(request.tenantId, request.query);
      return { items: page.items.map(jobView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/jobs/:id",
    { schema: { params: jobIdParams, response: { 200: jobViewSchema, ...problemResponses(401, 404, 429) }, tags: ["jobs"] } },
    async (request) => jobView(await service.get(request.tenantId, request.params.id)),
  );

  app.post(
    "/jobs/:id/cancel",
    { schema: { params: jobIdParams, response: { 202: jobViewSchema, ...problemResponses(401, 404, 409, 429) }, tags: ["jobs"] } },
    async (request, reply) => {
      const job = await service.cancel(request.tenantId, request.params.id);
      return reply.status(202).send(jobView(job));
    },
  );

  app.get(
    "/jobs/:id/metrics",
    {
      schema: {
        params: jobIdParams,
        querystring: metricsQuery,
        response: { 200: metricsResponse, ...problemResponses(400, 401, 404, 429) },
        tags: ["jobs"],
      },
    },
    async (request, reply) => {
      const rows = await service.metrics(request.tenantId, request.params.id);
      const epochs = rows.map(
        ({ epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate, seconds, samplesPerSecond }): EpochMetrics => ({
          epoch,
          trainLoss,
          trainAccuracy,
          valLoss,
          valAccuracy,
          learningRate,
          seconds,
          samplesPerSecond,
        }),
      );
      if (request.query.format === "csv") {
        const lines = [METRIC_COLUMNS.join(","), ...epochs.map((row) => METRIC_COLUMNS.map((column) => row[column] ?? "").join(","))];
        return reply.type("text/csv; charset=utf-8").send(`${lines.join("\n")}\n`);
      }
      return { epochs };
    },
  );

  app.get(
    "/jobs/:id/events",
    {
      schema: {
        params: jobIdParams,
        headers: eventsHeaders,
        response: { 200: eventsResponse, ...problemResponses(400, 401, 404, 429) },
        tags: ["jobs"],
        description: EVENTS_DESCRIPTION,
      },
    },
    async (request, reply) => {
      const job = await service.get(request.tenantId, request.params.id);
      const lastEventId = BigInt(request.headers["last-event-id"] ?? "0");
      return reply
        .type("text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
        .send(events.open(job.id, lastEventId, hashApiKey(bearerToken(request.headers.authorization) ?? "")));
    },
  );

  app.get(
    "/jobs/:id/model",
    {
      schema: {
        params: jobIdParams,
        querystring: modelQuery,
        response: { 200: modelZipResponse, ...problemResponses(400, 401, 404, 409, 429) },
        tags: ["models"],
      },
    },
    async (request, reply) => {
      const job = await service.get(request.tenantId, request.params.id);
      const zip = await models.zip(job, request.query.checkpoint);
      return reply
        .type("application/zip")
        .header("content-disposition", `attachment; filename="${job.id}-${request.query.checkpoint}.zip"`)
        .send(zip);
    },
  );

  app.get(
    "/jobs/:id/model/:file",
    {
      schema: {
        params: modelFileParams,
        querystring: modelQuery,
        response: { 200: modelFileResponse, ...problemResponses(400, 401, 404, 409, 429) },
        tags: ["models"],
      },
    },
    async (request, reply) => {
      await service.get(request.tenantId, request.params.id);
      const file = await models.file(request.params.id, request.query.checkpoint, request.params.file);
      return reply.type(file.contentType).header("content-length", file.size).send(file.stream);
    },
  );
};

export default jobs;
