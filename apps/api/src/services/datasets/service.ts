import { createWriteStream } from "node:fs";
import { mkdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyBaseLogger } from "fastify";
import type { Dataset, Db } from "@trainyard/db";
import { newId } from "@trainyard/shared";
import { badRequest, conflict, notFound } from "../../problems.ts";
import { createPeriodicTask } from "../periodic.ts";
import { archiveKind, type ArchiveKind } from "./archive.ts";
import { DatasetError } from "./errors.ts";
import { processUpload, type ProcessLimits } from "./ingest.ts";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
export const DEFAULT_LIMITS: ProcessLimits = {
  extractedBytes: 4 * GIB,
  files: 500_000,
  // Deflate reaches ~1000× on zeros; images and CSVs of real data sets stay far below 100×.
  maxRatio: 200,
  ratioGraceBytes: 16 * MIB,
  csvRows: 1_000_000,
  csvLineLength: 64 * 1024,
  splitBytes: 2 * GIB - 1,
};
const ACTIVE_JOB_STATUSES = ["queued", "running", "cancelling"];
/** A data set being processed has its heartbeat file touched this often, by whichever API process runs it. */
const HEARTBEAT_MS = 10_000;
/** A `processing` data set whose heartbeat is older than this was left by an API that stopped: it is failed. */
export const STALE_PROCESSING_MS = 6 * HEARTBEAT_MS;
const HEARTBEAT_FILE = "processing.heartbeat";
/** How long DELETE and shutdown wait for an aborted processing run to record its end. */
const ABORT_WAIT_MS = 15_000;
export const INTERRUPTED_MESSAGE = "processing was interrupted because the API stopped; upload the file again";

const DISK_ERRORS: Record<string, string> = {
  ENOSPC: "the server ran out of disk space while processing the upload; try again later or upload a smaller archive",
  EDQUOT: "the server's disk quota ran out while processing the upload; try again later or upload a smaller archive",
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** An upload written to disk, not yet a data set. */
export interface StagedUpload {
  id: string;
  archivePath: string;
  kind: ArchiveKind;
}

export interface DatasetServiceDeps {
  db: Db;
  /** Data sets live in `${dataDir}/datasets/<id>/`. */
  dataDir: string;
  logger: FastifyBaseLogger;
  limits?: Partial<ProcessLimits>;
}

/** Uploads, processed in the background in this process, and their lifecycle. */
export function createDatasetService({ db, dataDir, logger, limits: overrides = {} }: DatasetServiceDeps) {
  const limits: ProcessLimits = { ...DEFAULT_LIMITS, ...overrides };
  const processing = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const dirOf = (id: string) => join(dataDir, "datasets", id);

  async function findOwned(tenantId: string, id: string): Promise<Dataset> {
    const dataset = await db.dataset.findFirst({ where: { id, tenantId } });
    if (!dataset) throw notFound(`data set ${id}`);
    return dataset;
  }

  async function fail(id: string, error: unknown, signal: AbortSignal) {
    let message: string;
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (error instanceof DatasetError) message = error.message;
    else if (code && DISK_ERRORS[code]) message = DISK_ERRORS[code];
    else if (signal.aborted) message = "processing stopped because the API shut down; upload the file again";
    else {
      logger.error({ err: error, datasetId: id }, "data set processing failed");
      message = `processing failed unexpectedly; the API log has the details (data set ${id})`;
    }
    await rm(dirOf(id), { recursive: true, force: true });
    await db.dataset.updateMany({ where: { id, status: "processing" }, data: { status: "failed", error: message } });
  }

  function startProcessing(dataset: Dataset, staged: StagedUpload) {
    const controller = new AbortController();
    const outDir = dirOf(dataset.id);
    const heartbeatPath = join(outDir, HEARTBEAT_FILE);
    const beat = () => {
      const now = new Date();
      void utimes(heartbeatPath, now, now).catch(() => undefined);
    };
    const heartbeat = setInterval(beat, HEARTBEAT_MS);
    heartbeat.unref();
    const done = writeFile(heartbeatPath, "")
      .then(() =>
        processUpload({
          name: dataset.name,
          archivePath: staged.archivePath,
          kind: staged.kind,
          workDir: join(outDir, "upload"),
          outDir,
          limits,
          signal: controller.signal,
        }),
      )
      .then(async ({ classes, counts, imageShape }) => {
        await rm(heartbeatPath, { force: true });
        await db.dataset.updateMany({
          where: { id: dataset.id, status: "processing" },
          data: { status: "ready", classes, counts, imageShape, storageDir: outDir },
        });
      })
      .catch((error: unknown) => fail(dataset.id, error, controller.signal))
      .catch((error: unknown) => logger.error({ err: error, datasetId: dataset.id }, "could not record a failed data set"))
      .finally(() => {
        clearInterval(heartbeat);
        processing.delete(dataset.id);
      });
    processing.set(dataset.id, { controller, done });
  }

  /** Aborts a run and waits (bounded) for it to record its end. */
  async function stopRun(id: string) {
    const inFlight = processing.get(id);
    if (!inFlight) return;
    inFlight.controller.abort();
    await Promise.race([inFlight.done, sleep(ABORT_WAIT_MS)]);
  }

  /**
   * Fails the `processing` data sets no API process is working on: not this one's, and with a
   * heartbeat file older than STALE_PROCESSING_MS (or none). Safe with several API replicas.
   */
  async function failInterrupted(now = Date.now()) {
    const candidates = await db.dataset.findMany({ where: { status: "processing" }, select: { id: true, createdAt: true } });
    for (const { id, createdAt } of candidates) {
      if (processing.has(id)) continue;
      const lastBeat = await stat(join(dirOf(id), HEARTBEAT_FILE)).then(
        (info) => info.mtimeMs,
        () => createdAt.getTime(),
      );
      if (now - lastBeat < STALE_PROCESSING_MS) continue;
      // Files first: were this interrupted too, the row is still `processing` for the next check.
      await rm(dirOf(id), { recursive: true, force: true });
      const failed = await db.dataset.updateMany({
        where: { id, status: "processing" },
        data: { status: "failed", error: INTERRUPTED_MESSAGE },
      });
      if (failed.count > 0) logger.warn({ datasetId: id }, "failed a data set whose processing was interrupted");
    }
  }
  const recovery = createPeriodicTask(failInterrupted, (error) =>
    logger.error({ err: error }, "could not check for interrupted data sets"),
  );

  return {
    /** Writes the uploaded archive to disk; the caller starts or discards it. */
    async stage(filename: string, file: Readable): Promise<StagedUpload> {
      const kind = archiveKind(filename);
      if (!kind) {
        file.resume();
        throw badRequest("the file must be a .zip or .tar.gz archive", [
          { path: "file", message: `"${filename}" is neither .zip nor .tar.gz` },
        ]);
      }
      const id = newId("ds");
      const workDir = join(dirOf(id), "upload");
      await mkdir(workDir, { recursive: true });
      const staged = { id, kind, archivePath: join(workDir, kind === "zip" ? "upload.zip" : "upload.tar.gz") };
      try {
        await pipeline(file, createWriteStream(staged.archivePath));
      } catch (error) {
        await rm(dirOf(id), { recursive: true, force: true });
        throw error;
      }
      return staged;
    },

    discard: (staged: StagedUpload) => rm(dirOf(staged.id), { recursive: true, force: true }),

    /** Records the data set as processing and processes it in the background. */
    async start(tenantId: string, name: string, staged: StagedUpload): Promise<Dataset> {
      const dataset = await db.dataset.create({
        data: { id: staged.id, tenantId, name, status: "processing", counts: { train: 0, val: 0, test: 0 } },
      });
      startProcessing(dataset, staged);
      return dataset;
    },

    get: findOwned,

    list: (tenantId: string) => db.dataset.findMany({ where: { tenantId }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),

    /** Refused while a queued or running job uses it; finished jobs keep the id in their spec only. */
    async remove(tenantId: string, id: string): Promise<void> {
      await findOwned(tenantId, id);
      await db.$transaction(async (tx) => {
        // Locked, so a job cannot start using it between the check and the delete.
        await tx.$queryRaw`SELECT id FROM "Dataset" WHERE id = ${id} FOR UPDATE`;
        const active = await tx.job.count({ where: { datasetId: id, status: { in: ACTIVE_JOB_STATUSES } } });
        if (active > 0)
          throw conflict(`data set ${id} is used by ${active} queued or running job(s); cancel them or wait for them to finish`);
        await tx.job.updateMany({ where: { datasetId: id }, data: { datasetId: null } });
        await tx.dataset.delete({ where: { id } });
      });
      await stopRun(id);
      await rm(dirOf(id), { recursive: true, force: true });
    },

    /** Stops background processing (at the next image) and waits until it has recorded the failure. */
    async stopProcessing(): Promise<void> {
      await recovery.stop();
      await Promise.all([...processing.keys()].map(stopRun));
    },

    /** Fails data sets an earlier API process left `processing`, now and every `intervalMs`. */
    startRecovery: (intervalMs = STALE_PROCESSING_MS / 2) => recovery.start(intervalMs),

    failInterrupted,
  };
}

export type DatasetService = ReturnType<typeof createDatasetService>;
