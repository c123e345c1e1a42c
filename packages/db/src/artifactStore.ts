import { createHash } from "node:crypto";
import { pipeline, Readable, Transform } from "node:stream";
import type { Db } from "./client.ts";
import type { Prisma } from "./generated/client.ts";

/** 1 MiB chunks: a VGG's weights stream out without sitting in memory whole. */
export const CHUNK_BYTES = 1024 * 1024;

/** What a store answers for bytes it wrote: their length and SHA-256, which the Artifact row keeps. */
export interface StoredObject {
  size: bigint;
  sha256: string;
}

/**
 * Where an artifact's bytes live. Its metadata (size, sha256, references) is an Artifact row in
 * PostgreSQL whatever the store; the store holds bytes under a key and streams them both ways.
 */
export interface ArtifactStore {
  /** What Artifact.store records: "postgres" or "s3". */
  readonly name: string;
  /** The key a new artifact's bytes go under. */
  keyFor(artifactId: string): string;
  /**
   * Streams `body` in under `key`, hashing it on the way. The PostgreSQL store writes its chunks
   * with `tx` (the caller's transaction, in which the Artifact row `key` must exist).
   */
  put(key: string, body: Readable, tx?: Prisma.TransactionClient): Promise<StoredObject>;
  /**
   * The bytes under `key` as a stream, opened on its first read. With `expected`, they are checked
   * while they flow and the stream errors (ArtifactIntegrityError) on a size or checksum mismatch,
   * before its last chunk is let through; a missing object errors it with ArtifactMissingError.
   */
  get(key: string, expected?: StoredObject): Readable;
  /** The size of what is stored under `key`, or null if nothing is. */
  stat(key: string): Promise<{ size: bigint } | null>;
  /** Deletes what is under `key`; nothing there is not an error. */
  delete(key: string): Promise<void>;
}

export class ArtifactMissingError extends Error {
  constructor(store: string, key: string) {
    super(`artifact ${key} is missing from the ${store} store`);
    this.name = "ArtifactMissingError";
  }
}

export class ArtifactIntegrityError extends Error {
  constructor(store: string, key: string, detail: string) {
    super(`artifact ${key} in the ${store} store is corrupt: ${detail}`);
    this.name = "ArtifactIntegrityError";
  }
}

/** A pass-through that counts and hashes what flows, for a put. */
export function hashingStream(): { stream: Transform; result: () => StoredObject } {
  const hash = createHash("sha256");
  let size = 0n;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += BigInt(chunk.byteLength);
      callback(null, chunk);
    },
  });
  return { stream, result: () => ({ size, sha256: hash.digest("hex") }) };
}

/**
 * Checks bytes against their recorded size and SHA-256 as they flow. It always holds back the
 * latest chunk and lets it through only once the next one arrives or, for the last, once the
 * digest matches: a reader of a corrupt artifact never receives all of its bytes, so an HTTP
 * response whose headers are already sent ends short (the connection is cut), never complete.
 */
function verifyingStream(store: string, key: string, expected: StoredObject): Transform {
  const hash = createHash("sha256");
  let size = 0n;
  let held: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += BigInt(chunk.byteLength);
      if (size > expected.size) {
        callback(new ArtifactIntegrityError(store, key, `more than the recorded ${expected.size} bytes`));
        return;
      }
      const previous = held;
      held = chunk;
      callback(null, previous ?? undefined);
    },
    flush(callback) {
      if (size !== expected.size) {
        callback(new ArtifactIntegrityError(store, key, `${size} bytes, ${expected.size} recorded`));
        return;
      }
      const sha256 = hash.digest("hex");
      if (sha256 !== expected.sha256) {
        callback(new ArtifactIntegrityError(store, key, `sha256 ${sha256}, ${expected.sha256} recorded`));
        return;
      }
      callback(null, held ?? undefined);
    },
  });
}

/** `raw` checked against `expected` (if given); an error on either side ends both. */
export function verified(store: string, key: string, raw: Readable, expected?: StoredObject): Readable {
  if (!expected) return raw;
  const check = verifyingStream(store, key, expected);
  return pipeline(raw, check, () => {});
}

/** Re-cuts a stream into CHUNK_BYTES pieces (the last may be shorter), holding at most one piece. */
async function* chunksOf(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const part of body) {
    let rest = part;
    while (pendingBytes + rest.byteLength >= CHUNK_BYTES) {
      const take = CHUNK_BYTES - pendingBytes;
      yield pendingBytes === 0 ? rest.subarray(0, take) : Buffer.concat([...pending, rest.subarray(0, take)]);
      rest = rest.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (rest.byteLength > 0) {
      pending.push(rest);
      pendingBytes += rest.byteLength;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

/** Bytes already in memory as the chunks of an artifact whose row exists: one insert per CHUNK_BYTES. */
export async function putChunks(client: Db | Prisma.TransactionClient, artifactId: string, data: Uint8Array): Promise<void> {
  for (let offset = 0, index = 0; offset < data.byteLength; offset += CHUNK_BYTES, index += 1) {
    const chunk = data.subarray(offset, Math.min(offset + CHUNK_BYTES, data.byteLength));
    await client.artifactChunk.create({ data: { artifactId, index, data: new Uint8Array(chunk) } });
  }
}

/** Bytes as ArtifactChunk rows of the artifact whose id is the key (as before there were stores). */
export function createPostgresArtifactStore(db: Db | Prisma.TransactionClient): ArtifactStore {
  const name = "postgres";
  /** No chunks are stored bytes only for an artifact of 0 bytes; otherwise they are missing. */
  async function isEmptyArtifact(key: string): Promise<boolean> {
    const artifact = await db.artifact.findUnique({ where: { id: key }, select: { size: true } });
    return artifact?.size === 0n;
  }
  return {
    name,
    keyFor: (artifactId) => artifactId,

    async put(key, body, tx) {
      const client = tx ?? db;
      const { stream, result } = hashingStream();
      const hashed = body.pipe(stream);
      body.on("error", (error) => hashed.destroy(error));
      let index = 0;
      for await (const chunk of chunksOf(hashed)) {
        await client.artifactChunk.create({ data: { artifactId: key, index, data: new Uint8Array(chunk) } });
        index += 1;
      }
      return result();
    },

    get(key, expected) {
      let index = 0;
      const raw = new Readable({
        async read() {
          try {
            const chunk = await db.artifactChunk.findUnique({ where: { artifactId_index: { artifactId: key, index } } });
            if (!chunk && index === 0 && !(await isEmptyArtifact(key))) {
              this.destroy(new ArtifactMissingError(name, key));
              return;
            }
            index += 1;
            this.push(chunk ? Buffer.from(chunk.data) : null);
          } catch (error) {
            this.destroy(error as Error);
          }
        },
      });
      return verified(name, key, raw, expected);
    },

    async stat(key) {
      const [row] = await db.$queryRaw<{ chunks: bigint; size: bigint }[]>`
        SELECT COUNT(*)::bigint AS "chunks", COALESCE(SUM(octet_length("data")), 0)::bigint AS "size"
          FROM "ArtifactChunk" WHERE "artifactId" = ${key}`;
      if (row && row.chunks > 0n) return { size: row.size };
      return (await isEmptyArtifact(key)) ? { size: 0n } : null;
    },

    async delete(key) {
      await db.artifactChunk.deleteMany({ where: { artifactId: key } });
    },
  };
}

/** Stores other than PostgreSQL this process opened, by name: an Artifact row's `store` finds its bytes. */
const openStores = new Map<string, ArtifactStore>();

export function registerArtifactStore(store: ArtifactStore): void {
  if (store.name !== "postgres") openStores.set(store.name, store);
}

/** The store an Artifact row's bytes are in. */
export function artifactStoreOf(db: Db | Prisma.TransactionClient, storeName: string): ArtifactStore {
  if (storeName === "postgres") return createPostgresArtifactStore(db);
  const store = openStores.get(storeName);
  if (!store) throw new Error(`an artifact is in the ${storeName} store, which this process has not configured (TRAINYARD_ARTIFACTS_URL)`);
  return store;
}

/** Artifact settings as API and worker configs hold them (TRAINYARD_ARTIFACTS_URL and the usual AWS variables). */
export interface ArtifactStoreSettings {
  TRAINYARD_ARTIFACTS_URL?: string | undefined;
  AWS_ENDPOINT_URL_S3?: string | undefined;
  AWS_ENDPOINT_URL?: string | undefined;
  AWS_REGION?: string | undefined;
  AWS_S3_FORCE_PATH_STYLE?: boolean | undefined;
}

/**
 * The store new artifacts go to: PostgreSQL without TRAINYARD_ARTIFACTS_URL, else the S3 bucket it
 * names, registered so rows that name it are read from it (rows of the other store stay readable).
 * The AWS SDK (~3 s to import on a busy machine) is loaded only then.
 */
export async function openArtifactStore(db: Db, settings: ArtifactStoreSettings): Promise<ArtifactStore> {
  if (!settings.TRAINYARD_ARTIFACTS_URL) return createPostgresArtifactStore(db);
  const { createS3ArtifactStore } = await import("./artifactStoreS3.ts");
  const endpoint = settings.AWS_ENDPOINT_URL_S3 ?? settings.AWS_ENDPOINT_URL;
  const store = createS3ArtifactStore({
    url: settings.TRAINYARD_ARTIFACTS_URL,
    ...(endpoint ? { endpoint } : {}),
    ...(settings.AWS_REGION ? { region: settings.AWS_REGION } : {}),
    ...(settings.AWS_S3_FORCE_PATH_STYLE !== undefined ? { forcePathStyle: settings.AWS_S3_FORCE_PATH_STYLE } : {}),
  });
  registerArtifactStore(store);
  return store;
}
