import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { newId } from "@trainyard/shared";
import type { Db } from "./client.ts";
import type { Prisma } from "./generated/client.ts";

/** 1 MiB chunks: a VGG's weights stream out without sitting in memory whole. */
export const CHUNK_BYTES = 1024 * 1024;

export interface ArtifactInput {
  jobId: string;
  checkpointId?: string;
  kind: string;
  name: string;
  contentType: string;
  data: Uint8Array;
}

/** Writes (or replaces) one artifact and its chunks, inside the caller's transaction. */
export async function putArtifact(tx: Prisma.TransactionClient, input: ArtifactInput): Promise<string> {
  const id = newId("art");
  const sha256 = createHash("sha256").update(input.data).digest("hex");
  await tx.artifact.deleteMany({ where: { jobId: input.jobId, kind: input.kind, name: input.name } });
  await tx.artifact.create({
    data: {
      id,
      jobId: input.jobId,
      checkpointId: input.checkpointId ?? null,
      kind: input.kind,
      name: input.name,
      contentType: input.contentType,
      size: input.data.byteLength,
      sha256,
    },
  });
  for (let offset = 0, index = 0; offset < input.data.byteLength; offset += CHUNK_BYTES, index += 1) {
    const chunk = input.data.subarray(offset, Math.min(offset + CHUNK_BYTES, input.data.byteLength));
    await tx.artifactChunk.create({ data: { artifactId: id, index, data: new Uint8Array(chunk) } });
  }
  return id;
}

/** Streams an artifact chunk by chunk, one query per chunk. */
export function streamArtifact(db: Db, artifactId: string): Readable {
  let index = 0;
  return new Readable({
    async read() {
      try {
        const chunk = await db.artifactChunk.findUnique({ where: { artifactId_index: { artifactId, index } } });
        index += 1;
        this.push(chunk ? Buffer.from(chunk.data) : null);
      } catch (error) {
        this.destroy(error as Error);
      }
    },
  });
}

export async function readArtifact(db: Db | Prisma.TransactionClient, artifactId: string): Promise<Buffer> {
  const chunks = await db.artifactChunk.findMany({ where: { artifactId }, orderBy: { index: "asc" } });
  return Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.data)));
}
