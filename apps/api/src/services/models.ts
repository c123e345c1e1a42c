import { newId } from "@trainyard/shared";
import { Prisma, readArtifact, type Artifact, type Db } from "@trainyard/db";
import { badRequest, conflict, notFound } from "../problems.ts";
import { encodeCursor, decodeCursor } from "./cursor.ts";
import { withoutSecrets } from "./jobView.ts";
import { enqueueModelEvent } from "./webhooks/modelEvents.ts";

export type CheckpointChoice = "best" | "last";

const ACTIVE_JOB_STATUSES = ["queued", "running", "cancelling"];

/** Letters, digits, `.`, `_`, `-`; starts with a letter or digit. No `@` or `/`: "name@alias" and paths stay unambiguous. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** An alias starts with a letter, so it is never mistaken for a version number. */
export const ALIAS_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
export const MODEL_NAME_MESSAGE = "1–100 letters, digits, '.', '_' or '-', starting with a letter or digit";
export const ALIAS_MESSAGE = "1–64 letters, digits, '.', '_' or '-', starting with a letter";

/** A version as `resolveVersion` finds it: what a predictor or a fine-tune needs to load it. */
export interface ResolvedModelVersion {
  modelId: string;
  name: string;
  versionId: string;
  version: number;
  sourceJobId: string | null;
  checkpoint: string | null;
  architecture: string;
  architectureOptions: Record<string, unknown>;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  /** Class names in output order. */
  labels: string[];
  /** The version's stored files (model.json and its weight files), shared with the job they came from. */
  artifacts: Artifact[];
  /** The model.json artifact among `artifacts`. */
  modelJson: Artifact;
  spec: unknown;
  metrics: unknown;
  createdAt: Date;
}

/** A job's labels.json as stored (null when it has none): the registry and the download read it alike. */
export async function readJobLabels(db: Db | Prisma.TransactionClient, jobId: string): Promise<Buffer | null> {
  const labels = await db.artifact.findFirst({ where: { jobId, kind: "meta", name: "labels.json" } });
  return labels ? readArtifact(db, labels.id) : null;
}

/** The tenant's model `name`; another tenant's or an unknown one: 404. */
async function modelOf(db: Db, tenantId: string, name: string) {
  const model = await db.model.findUnique({ where: { tenantId_name: { tenantId, name } } });
  if (!model) throw notFound(`model ${name}`);
  return model;
}

function refOf(ref: string | number): { version: number } | { alias: string } {
  if (typeof ref === "number") return { version: ref };
  if (/^\d{1,9}$/.test(ref)) return { version: Number(ref) };
  return { alias: ref };
}

/**
 * The tenant's version `ref` (a version number or an alias) of model `name`, with its stored
 * artifacts. Another tenant's model, an unknown name, version or alias: 404.
 */
export async function resolveVersion(db: Db, tenantId: string, name: string, ref: string | number): Promise<ResolvedModelVersion> {
  const model = await modelOf(db, tenantId, name);
  const parsed = refOf(ref);
  let versionId: string | undefined;
  if ("alias" in parsed) {
    const alias = await db.modelAlias.findUnique({ where: { modelId_alias: { modelId: model.id, alias: parsed.alias } } });
    if (!alias) throw notFound(`alias ${parsed.alias} of model ${name}`);
    versionId = alias.versionId;
  }
  const row = await db.modelVersion.findFirst({
    where: versionId ? { id: versionId } : { modelId: model.id, version: (parsed as { version: number }).version },
    include: { artifacts: { include: { artifact: true } } },
  });
  if (!row) throw notFound(`version ${String(ref)} of model ${name}`);
  const artifacts = row.artifacts.map((link) => link.artifact);
  const modelJson = artifacts.find((artifact) => artifact.name === "model.json");
  if (!modelJson) throw new Error(`model ${name} version ${row.version} has no model.json`);
  return {
    modelId: model.id,
    name: model.name,
    versionId: row.id,
    version: row.version,
    sourceJobId: row.sourceJobId,
    checkpoint: row.checkpoint,
    architecture: row.architecture,
    architectureOptions: row.architectureOptions as Record<string, unknown>,
    inputShape: row.inputShape as [number, number, number],
    labels: row.labels as string[],
    artifacts,
    modelJson,
    spec: row.spec,
    metrics: row.metrics,
    createdAt: row.createdAt,
  };
}

export function validateModelName(name: string, path = "name"): void {
  if (!MODEL_NAME_PATTERN.test(name))
    throw badRequest(`model name ${JSON.stringify(name)} is not valid`, [{ path, message: MODEL_NAME_MESSAGE }]);
}

export interface VersionView {
  version: number;
  aliases: string[];
  description: string | null;
  sourceJobId: string | null;
  checkpoint: string | null;
  architecture: string;
  architectureOptions: Record<string, unknown>;
  inputShape: number[];
  labels: string[];
  metrics: Record<string, unknown> | null;
  createdAt: string;
}

const versionInclude = { aliases: { select: { alias: true }, orderBy: { alias: "asc" } } } as const;

type VersionRow = Prisma.ModelVersionGetPayload<{ include: typeof versionInclude }>;

function versionView(row: VersionRow): VersionView {
  return {
    version: row.version,
    aliases: row.aliases.map((alias) => alias.alias),
    description: row.description,
    sourceJobId: row.sourceJobId,
    checkpoint: row.checkpoint,
    architecture: row.architecture,
    architectureOptions: row.architectureOptions as Record<string, unknown>,
    inputShape: row.inputShape as number[],
    labels: row.labels as string[],
    metrics: (row.metrics as Record<string, unknown> | null) ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * Announces a new version to the tenant's model webhooks (`model.version.created`): call it in
 * the transaction that created the version (registration here, an import in modelImport.ts),
 * so the deliveries commit with it. The body's `data` is `{ name, version }`, the version as
 * GET /v1/models/{name} shows it.
 */
export async function modelVersionCreated(tx: Prisma.TransactionClient, tenantId: string, name: string, versionId: string): Promise<void> {
  const row = await tx.modelVersion.findUniqueOrThrow({ where: { id: versionId }, include: versionInclude });
  await enqueueModelEvent(tx, tenantId, "model.version.created", { name, version: versionView(row) as unknown as Prisma.InputJsonObject });
}

/** The registry: named, versioned snapshots of jobs' checkpoints that share the jobs' stored artifacts. */
export function createModelRegistry(db: Db) {
  async function modelView(model: { id: string; name: string; createdAt: Date }) {
    const versions = await db.modelVersion.findMany({ where: { modelId: model.id }, include: versionInclude, orderBy: { version: "asc" } });
    return { name: model.name, createdAt: model.createdAt.toISOString(), versions: versions.map(versionView) };
  }

  return {
    resolveVersion: (tenantId: string, name: string, ref: string | number) => resolveVersion(db, tenantId, name, ref),

    /** A new version of `name` from the job's best or last checkpoint; the first registers the name. */
    async register(
      tenantId: string,
      input: { name: string; fromJobId: string; checkpoint: CheckpointChoice; description?: string | null },
    ): Promise<{ name: string; version: VersionView }> {
      validateModelName(input.name);
      const job = await db.job.findFirst({ where: { id: input.fromJobId, tenantId } });
      if (!job) throw notFound(`job ${input.fromJobId}`);
      const spec = job.spec as {
        architecture: string;
        architectureOptions?: Record<string, unknown>;
        inputShape: number[];
      };
      const row = await db.$transaction(async (tx) => {
        const artifacts = await tx.artifact.findMany({ where: { jobId: job.id, kind: input.checkpoint } });
        const modelJson = artifacts.find((artifact) => artifact.name === "model.json");
        if (!modelJson) throw conflict(`job ${job.id} has no ${input.checkpoint} checkpoint`);
        const labelsJson = await readJobLabels(tx, job.id);
        const labels = labelsJson ? (JSON.parse(labelsJson.toString("utf8")) as string[]) : [];
        const checkpoint = modelJson.checkpointId ? await tx.checkpoint.findUnique({ where: { id: modelJson.checkpointId } }) : null;
        const epochRow = checkpoint
          ? await tx.epochMetric.findUnique({ where: { jobId_epoch: { jobId: job.id, epoch: checkpoint.epoch } } })
          : null;
        const result = job.result as { testLoss: number; testAccuracy: number; bestEpoch: number } | null;
        const metrics = {
          ...(epochRow
            ? {
                epoch: epochRow.epoch,
                trainLoss: epochRow.trainLoss,
                trainAccuracy: epochRow.trainAccuracy,
                valLoss: epochRow.valLoss,
                valAccuracy: epochRow.valAccuracy,
              }
            : {}),
          // The job's test metrics are of its best checkpoint: they describe this version only if it is that one.
          ...(result && (input.checkpoint === "best" || epochRow?.epoch === result.bestEpoch) ? result : {}),
        };
        await tx.model.createMany({ data: [{ id: newId("mdl"), tenantId, name: input.name }], skipDuplicates: true });
        // The row lock of this update orders concurrent registrations: each gets its own number.
        const model = await tx.model.update({
          where: { tenantId_name: { tenantId, name: input.name } },
          data: { nextVersion: { increment: 1 } },
        });
        const created = await tx.modelVersion.create({
          data: {
            id: newId("mver"),
            modelId: model.id,
            version: model.nextVersion - 1,
            description: input.description ?? null,
            sourceJobId: job.id,
            checkpoint: input.checkpoint,
            architecture: spec.architecture,
            architectureOptions: (spec.architectureOptions ?? {}) as Prisma.InputJsonValue,
            inputShape: spec.inputShape,
            labels,
            metrics: metrics as Prisma.InputJsonValue,
            spec: withoutSecrets(job.spec) as Prisma.InputJsonValue,
            // References, not copies: the job's artifact rows (and their chunks) are shared.
            artifacts: { create: artifacts.map((artifact) => ({ artifactId: artifact.id })) },
          },
          include: versionInclude,
        });
        await modelVersionCreated(tx, tenantId, input.name, created.id);
        return created;
      });
      return { name: input.name, version: versionView(row) };
    },

    async list(tenantId: string, query: { limit: number; cursor?: string }) {
      const after = query.cursor ? decodeCursor(query.cursor) : null;
      const rows = await db.model.findMany({
        where: {
          tenantId,
          ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
        },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: await Promise.all(page.map((model) => modelView(model))),
        nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
      };
    },

    get: async (tenantId: string, name: string) => modelView(await modelOf(db, tenantId, name)),

    /** Points `alias` at `version` (creating or moving it). */
    async setAlias(tenantId: string, name: string, alias: string, version: number) {
      const model = await modelOf(db, tenantId, name);
      const row = await db.modelVersion.findUnique({ where: { modelId_version: { modelId: model.id, version } } });
      if (!row) throw notFound(`version ${version} of model ${name}`);
      await db.modelAlias.upsert({
        where: { modelId_alias: { modelId: model.id, alias } },
        create: { modelId: model.id, alias, versionId: row.id },
        update: { versionId: row.id },
      });
      const updated = await db.modelVersion.findUniqueOrThrow({ where: { id: row.id }, include: versionInclude });
      return versionView(updated);
    },

    /**
     * Deletes one version and its aliases; its artifacts go when nothing else refers to them
     * (migration triggers). 409 while a queued or running job is to fine-tune from it.
     */
    async deleteVersion(tenantId: string, name: string, version: number) {
      const model = await modelOf(db, tenantId, name);
      await db.$transaction(async (tx) => {
        const row = await tx.modelVersion.findUnique({ where: { modelId_version: { modelId: model.id, version } } });
        if (!row) throw notFound(`version ${version} of model ${name}`);
        // Submits pin fromModel to `name@version` (specNormalizer). A submit racing this delete still
        // gets a job, which then fails at start with INVALID_FINE_TUNE_SOURCE.
        const users = await tx.job.count({
          where: {
            tenantId,
            status: { in: ACTIVE_JOB_STATUSES },
            spec: { path: ["fineTune", "fromModel"], equals: `${name}@${version}` },
          },
        });
        if (users > 0) throw conflict(`version ${version} of model ${name} is the fine-tune source of ${users} queued or running job(s)`);
        await tx.modelVersion.delete({ where: { id: row.id } });
      });
    },
  };
}

export type ModelRegistry = ReturnType<typeof createModelRegistry>;
