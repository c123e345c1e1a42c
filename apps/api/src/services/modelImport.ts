import yauzl from "yauzl";
import { Prisma, writeArtifact, type ArtifactStore, type Db } from "@trainyard/db";
import {
  checkBuildOptions,
  hasModel,
  readSafetensors,
  SafetensorsError,
  TORCHVISION,
  WEIGHTS_FILE,
  type ImportFormat,
  type ImportSource,
  type InputShape,
  type LayersModelFiles,
} from "@trainyard/models";
import { newId, startWorkerThread } from "@trainyard/shared";
import { badRequest } from "../problems.ts";
import type { ImportThreadInput, ImportThreadReply } from "./modelImportThread.ts";
import { createModelRegistry, modelVersionCreated, validateModelName } from "./models.ts";

/** ImageNet has 1,000 classes, iNaturalist-style sets 10,000: the most an imported model may have. */
export const MAX_IMPORT_LABELS = 10_000;

export interface ModelImportInput {
  name: string;
  architecture: string;
  architectureOptions: Record<string, unknown>;
  inputShape: InputShape;
  labels: string[] | null;
  format: ImportFormat;
  description: string | null;
  file: Uint8Array;
}

/** Runs one import in its own thread (building a ResNet-50 and reordering 100 MB of weights takes seconds). */
function convertInThread(input: ImportThreadInput, transfer: ArrayBuffer[]): Promise<Extract<ImportThreadReply, { ok: true }>> {
  return new Promise((resolve, reject) => {
    const thread = startWorkerThread(new URL("./modelImportThread.ts", import.meta.url));
    // The input goes as the first message (transferred, not copied), once the thread listens.
    thread.postMessage(input, transfer);
    let settled = false;
    thread.once("message", (reply: ImportThreadReply | { fatal: string }) => {
      settled = true;
      void thread.terminate();
      if ("fatal" in reply) return reject(new Error(`the import thread could not start: ${reply.fatal}`));
      if (reply.ok) return resolve(reply);
      if (!reply.badInput) return reject(new Error(`the import failed: ${reply.message}`));
      reject(
        badRequest(
          reply.message,
          reply.problems.slice(0, 50).map((message) => ({ path: reply.path, message })),
        ),
      );
    });
    thread.once("error", (error) => {
      if (!settled) reject(error);
    });
    thread.once("exit", (code) => {
      if (!settled) reject(new Error(`the import thread stopped (exit code ${code})`));
    });
  });
}

/** model.json and its weight files (concatenated in manifest order) from a zip such as GET /v1/jobs/{id}/model gives. */
async function readLayersZip(zipBytes: Uint8Array): Promise<LayersModelFiles> {
  const entries = new Map<string, Buffer>();
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(Buffer.from(zipBytes.buffer, zipBytes.byteOffset, zipBytes.byteLength), {
      lazyEntries: true,
      validateEntrySizes: true,
    });
  } catch (error) {
    throw badRequest(`the file is not a readable zip archive (${(error as Error).message})`, [
      { path: "file", message: "a zip of model.json and its weight files is required" },
    ]);
  }
  // The uncompressed total is held to 4× the upload: a zip bomb is refused before it is inflated.
  let budget = 4 * zipBytes.byteLength + 1024 * 1024;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on("error", reject);
      zip.on("end", () => resolve());
      zip.on("entry", (entry: yauzl.Entry) => {
        budget -= entry.uncompressedSize;
        if (budget < 0)
          return reject(
            badRequest("the zip inflates to more than 4× its size", [{ path: "file", message: "the archive is too large when unpacked" }]),
          );
        if (entry.fileName.endsWith("/")) return zip.readEntry();
        zip.openReadStream(entry, (error, stream) => {
          if (error) return reject(error);
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("error", reject);
          stream.on("end", () => {
            entries.set(entry.fileName.replace(/^.*\//, ""), Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  } catch (error) {
    if (error instanceof Error && !("status" in error))
      throw badRequest(`the zip archive is damaged (${error.message})`, [{ path: "file", message: error.message }]);
    throw error;
  } finally {
    zip.close();
  }
  const modelJsonBytes = entries.get("model.json");
  if (!modelJsonBytes)
    throw badRequest("the zip has no model.json", [{ path: "file", message: "a zip of model.json and its weight files is required" }]);
  let modelJson: Record<string, unknown>;
  try {
    modelJson = JSON.parse(modelJsonBytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw badRequest("model.json is not JSON", [{ path: "file", message: "model.json is not JSON" }]);
  }
  const manifest = Array.isArray(modelJson.weightsManifest) ? (modelJson.weightsManifest as Array<{ paths?: unknown }>) : [];
  const paths = manifest.flatMap((group) => (Array.isArray(group.paths) ? group.paths.map(String) : []));
  const missing = paths.filter((path) => !entries.has(path.replace(/^.*\//, "")));
  if (missing.length > 0)
    throw badRequest(
      "the zip lacks weight files model.json names",
      missing.map((path) => ({ path: "file", message: `missing ${path}` })),
    );
  return { modelJson, weights: new Uint8Array(Buffer.concat(paths.map((path) => entries.get(path.replace(/^.*\//, ""))!))) };
}

/** What can be refused without the thread: another variant, a file whose safetensors header is malformed (reading it copies nothing). */
function checkTorchvisionInput(input: ModelImportInput): void {
  if (input.architectureOptions.variant !== TORCHVISION) {
    const message = `torchvision weights need architectureOptions.variant "${TORCHVISION}" (torchvision's own network)`;
    throw badRequest(message, [{ path: "architectureOptions.variant", message }]);
  }
  try {
    readSafetensors(input.file);
  } catch (error) {
    if (!(error instanceof SafetensorsError)) throw error;
    throw badRequest(`the file is not valid safetensors: ${error.message}`, [{ path: "file", message: error.message }]);
  }
}

/** Imports weights from outside (a TF.js layers zip or a torchvision state_dict) as the next version of a registered model. */
export function createModelImportService(db: Db, store: ArtifactStore) {
  const registry = createModelRegistry(db);

  return {
    async importVersion(tenantId: string, input: ModelImportInput) {
      validateModelName(input.name);
      if (!hasModel(input.architecture))
        throw badRequest(`unknown architecture ${input.architecture}`, [{ path: "architecture", message: "not in GET /v1/architectures" }]);
      if (input.labels && (input.labels.length < 2 || input.labels.length > MAX_IMPORT_LABELS)) {
        throw badRequest(`labels has ${input.labels.length} names`, [
          { path: "labels", message: `between 2 and ${MAX_IMPORT_LABELS} class names` },
        ]);
      }
      const classes = input.labels?.length ?? null;
      // A ModelOptionError thrown here is the error handler's 400 naming its path.
      checkBuildOptions(input.architecture, { inputShape: input.inputShape, classes: classes ?? 2, options: input.architectureOptions });
      const request = { architecture: input.architecture, options: input.architectureOptions, inputShape: input.inputShape, classes };
      // The thread gets its own copy of the bytes, transferred rather than cloned.
      let source: ImportSource;
      let transfer: ArrayBuffer[];
      if (input.format === "torchvision") {
        checkTorchvisionInput(input);
        const safetensors = new Uint8Array(input.file);
        source = { format: "torchvision", safetensors };
        transfer = [safetensors.buffer];
      } else {
        const files = await readLayersZip(input.file);
        source = { format: "tfjs", files };
        transfer = [files.weights.buffer as ArrayBuffer];
      }
      const converted = await convertInThread({ request, source }, transfer);
      const labels = input.labels ?? Array.from({ length: converted.classes }, (_, index) => String(index));
      if (labels.length > MAX_IMPORT_LABELS)
        throw badRequest(`the file's classifier has ${labels.length} classes`, [
          { path: "file", message: `at most ${MAX_IMPORT_LABELS} classes` },
        ]);
      const version = await db.$transaction(
        async (tx) => {
          // No job holds an imported model's files, only its version (the registry's triggers delete them with their last version).
          const importedFile = (name: string, contentType: string, data: Uint8Array) =>
            writeArtifact(tx, store, { jobId: null, kind: "import", name, contentType, data });
          const modelJsonId = await importedFile("model.json", "application/json", Buffer.from(JSON.stringify(converted.modelJson)));
          const weightsId = await importedFile(WEIGHTS_FILE, "application/octet-stream", converted.weights);
          await tx.model.createMany({ data: [{ id: newId("mdl"), tenantId, name: input.name }], skipDuplicates: true });
          const model = await tx.model.update({
            where: { tenantId_name: { tenantId, name: input.name } },
            data: { nextVersion: { increment: 1 } },
          });
          const row = await tx.modelVersion.create({
            data: {
              id: newId("mver"),
              modelId: model.id,
              version: model.nextVersion - 1,
              description: input.description,
              sourceJobId: null,
              checkpoint: null,
              architecture: input.architecture,
              architectureOptions: input.architectureOptions as Prisma.InputJsonValue,
              inputShape: input.inputShape,
              labels,
              metrics: Prisma.DbNull,
              spec: {
                imported: { format: input.format },
                architecture: input.architecture,
                architectureOptions: input.architectureOptions,
                inputShape: input.inputShape,
              } as Prisma.InputJsonValue,
              artifacts: { create: [{ artifactId: modelJsonId }, { artifactId: weightsId }] },
            },
          });
          await modelVersionCreated(tx, tenantId, input.name, row.id);
          return row.version;
        },
        { timeout: 300_000, maxWait: 30_000 },
      );
      const model = await registry.get(tenantId, input.name);
      return { name: input.name, version: model.versions.find((candidate) => candidate.version === version)! };
    },
  };
}

export type ModelImportService = ReturnType<typeof createModelImportService>;
