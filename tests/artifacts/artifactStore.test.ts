import { open } from "node:fs/promises";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { createDb, createPostgresArtifactStore, registerArtifactStore } from "@trainyard/db";
import { createS3ArtifactStore } from "../../packages/db/src/artifactStoreS3.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { startS3Server } from "../helpers/s3.ts";
import { artifactStoreSuite, type StoreFixture } from "./artifactStoreSuite.ts";

artifactStoreSuite("postgres", async (): Promise<StoreFixture> => {
  const database = await createTestDatabase();
  const db = createDb(database.url);
  return {
    db,
    store: createPostgresArtifactStore(db),
    corrupt: async (key) => {
      await db.$executeRaw`
        UPDATE "ArtifactChunk" SET "data" = set_byte("data", 0, get_byte("data", 0) # 1)
         WHERE "artifactId" = ${key} AND "index" = (SELECT MAX("index") FROM "ArtifactChunk" WHERE "artifactId" = ${key})`;
    },
    keys: async () =>
      (await db.$queryRaw<{ key: string }[]>`SELECT DISTINCT "artifactId" AS "key" FROM "ArtifactChunk"`).map((row) => row.key),
    close: async () => {
      await db.$disconnect();
      await database.drop();
    },
  };
}, { memoryBound: false });

artifactStoreSuite("s3 (s3rver)", async (): Promise<StoreFixture> => {
  const database = await createTestDatabase();
  const db = createDb(database.url);
  const s3 = await startS3Server();
  const store = createS3ArtifactStore({
    url: `s3://${s3.bucket}/suite`,
    endpoint: s3.endpoint,
    region: "us-east-1",
    credentials: s3.credentials,
  });
  registerArtifactStore(store);
  return {
    db,
    store,
    corrupt: async (key) => {
      const file = await open(s3.objectFile(key), "r+");
      try {
        const byte = Buffer.alloc(1);
        await file.read(byte, 0, 1, 1000);
        byte[0] = byte[0]! ^ 1;
        await file.write(byte, 0, 1, 1000);
      } finally {
        await file.close();
      }
    },
    keys: async () => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await store.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: "suite/", ContinuationToken: token }));
        keys.push(...(page.Contents ?? []).map((object) => object.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys;
    },
    close: async () => {
      store.client.destroy();
      await db.$disconnect();
      await database.drop();
      await s3.stop();
    },
  };
}, { memoryBound: true });
