import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { badRequest, payloadTooLarge } from "../../problems.ts";
import type { DatasetService, StagedUpload } from "../../services/datasets/service.ts";
import { fieldErrorsFromIssues, unstorableReason } from "../../validation.ts";

const nameSchema = z
  .string()
  .trim()
  .min(1, "name is required")
  .max(200)
  .superRefine((name, context) => {
    const reason = unstorableReason(name);
    if (reason) context.addIssue({ code: "custom", message: reason });
  });

/** Reads `name` and `file` from the multipart body, in either order; the file is staged to disk as it arrives. */
export async function readUpload(request: FastifyRequest, datasets: DatasetService): Promise<{ name: string; staged: StagedUpload }> {
  let staged: StagedUpload | null = null;
  let rawName: unknown;
  try {
    for await (const part of request.parts()) {
      if (part.type === "field") {
        if (part.fieldname === "name") rawName = part.value;
        continue;
      }
      if (part.fieldname !== "file") {
        part.file.resume();
        throw badRequest("unexpected file field", [{ path: part.fieldname, message: "send the archive as the field named file" }]);
      }
      staged = await datasets.stage(part.filename, part.file);
      if (part.file.truncated) {
        throw payloadTooLarge(
          `the file is larger than the upload limit of ${request.server.deps.config.TRAINYARD_UPLOAD_LIMIT_BYTES} bytes`,
        );
      }
    }
    const name = nameSchema.safeParse(rawName ?? "");
    const errors = [
      ...(name.success ? [] : fieldErrorsFromIssues(name.error.issues, ["name"])),
      ...(staged ? [] : [{ path: "file", message: "a .zip or .tar.gz archive is required" }]),
    ];
    if (errors.length > 0 || !name.success || !staged) throw badRequest("the upload is invalid", errors);
    return { name: name.data, staged };
  } catch (error) {
    if (staged) await datasets.discard(staged);
    throw error;
  }
}
