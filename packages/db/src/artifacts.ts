import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { newId } from "@trainyard/shared";
import { ArtifactMissingError, artifactStoreOf, createPostgresArtifactStore, putChunks, type ArtifactStore } from "./artifactStore.ts";
import type { Db } from "./client.ts";
import type { Artifact, Prisma } from "./generated/client.ts";

export interface ArtifactInput {
  /** The job it belongs to; null for an imported model's files, which only their version holds. */
  jobId: string | null;
  checkpointId?: string;
  kind: string;
  name: string;
  contentType: string;
  /** The bytes, or a stream of them (never gathered in memory by the store). */
  data: Uint8Array | Readable;
}

/** What reading an artifact needs from its row: where it is and what it must hash to. */
export type StoredArtifact = Pick<Artifact, "id" | "store" | "key" | "size" | "sha256">;

function bodyOf(data: Uint8Array | Readable): Readable {
  if (data instanceof Readable) return data;
  return Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/**
 * Writes (or replaces) one artifact in `store`, its row inside the caller's transaction. The
 * replaced row goes (its bytes with it: chunks in cascade, an object through ArtifactObjectDeletion),
 * unless a model version refers to it, in which case a trigger only detaches it from the job.
 */
export async function writeArtifact(tx: Prisma.TransactionClient, store: ArtifactStore, input: ArtifactInput): Promise<string> {
  const id = newId("art");
  const key = store.keyFor(id);
  const row = {
    id,
    jobId: input.jobId,
    checkpointId: input.checkpointId ?? null,
    kind: input.kind,
    name: input.name,
    contentType: input.contentType,
    store: store.name,
  };
  if (input.jobId !== null) await tx.artifact.deleteMany({ where: { jobId: input.jobId, kind: input.kind, name: input.name } });
  if (store.name === "postgres" && !(input.data instanceof Readable)) {
    // Bytes already in memory: hashed first, so the row is written once, then their chunks.
    const data = input.data;
    await tx.artifact.create({ data: { ...row, size: BigInt(data.byteLength), sha256: createHash("sha256").update(data).digest("hex") } });
    await putChunks(tx, id, data);
  } else if (store.name === "postgres") {
    // The chunks refer to the row, so it comes first; its size and checksum once they are known.
    await tx.artifact.create({ data: { ...row, size: 0n, sha256: "" } });
    const stored = await store.put(key, bodyOf(input.data), tx);
    await tx.artifact.update({ where: { id }, data: { size: stored.size, sha256: stored.sha256 } });
  } else {
    const stored = await store.put(key, bodyOf(input.data));
    await tx.artifact.create({ data: { ...row, key, size: stored.size, sha256: stored.sha256 } });
  }
  return id;
}

/** Writes (or replaces) one artifact in PostgreSQL chunks: small files (labels.json) and tests. */
export function putArtifact(tx: Prisma.TransactionClient, input: ArtifactInput): Promise<string> {
  return writeArtifact(tx, createPostgresArtifactStore(tx), input);
}

/** An artifact's bytes, from whichever store its row names, checked against its size and sha256 as they flow. */
export function openArtifact(db: Db | Prisma.TransactionClient, artifact: StoredArtifact): Readable {
  const store = artifactStoreOf(db, artifact.store);
  return store.get(artifact.key ?? artifact.id, { size: artifact.size, sha256: artifact.sha256 });
}

/** An artifact's bytes in one buffer: for what must be whole anyway (model.json, weights a model loads). */
export async function readArtifact(db: Db | Prisma.TransactionClient, artifactId: string): Promise<Buffer> {
  const artifact = await db.artifact.findUnique({ where: { id: artifactId } });
  if (!artifact) throw new ArtifactMissingError("metadata", artifactId);
  const parts: Buffer[] = [];
  for await (const part of openArtifact(db, artifact)) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/**
 * Deletes the objects of `store` whose artifact rows are gone (queued by a trigger, however the row
 * went), then their queue rows. Deleting twice is harmless, so processes may race on it.
 */
export async function collectArtifactGarbage(db: Db, store: ArtifactStore): Promise<number> {
  if (store.name === "postgres") return 0;
  let deleted = 0;
  for (;;) {
    const due = await db.artifactObjectDeletion.findMany({ where: { store: store.name }, orderBy: { id: "asc" }, take: 100 });
    if (due.length === 0) return deleted;
    for (const object of due) {
      await store.delete(object.key);
      await db.artifactObjectDeletion.deleteMany({ where: { id: object.id } });
      deleted += 1;
    }
  }
}
