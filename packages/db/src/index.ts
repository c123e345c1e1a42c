export { createDb, type Db } from "./client.ts";
export { applyMigrations, defaultMigrationsDir, ensureDatabase, type MigrationResult } from "./migrate.ts";
export { listenToChannel, type ChannelHandlers } from "./notifications.ts";
export { createSqlPool, type SqlPool } from "./sql.ts";
export {
  collectArtifactGarbage,
  openArtifact,
  putArtifact,
  readArtifact,
  writeArtifact,
  type ArtifactInput,
  type StoredArtifact,
} from "./artifacts.ts";
export {
  ArtifactIntegrityError,
  ArtifactMissingError,
  artifactStoreOf,
  CHUNK_BYTES,
  createPostgresArtifactStore,
  openArtifactStore,
  registerArtifactStore,
  type ArtifactStore,
  type ArtifactStoreSettings,
  type StoredObject,
} from "./artifactStore.ts";
// The S3 store itself (and the AWS SDK) is imported by openArtifactStore when configured.
export type { S3ArtifactStoreOptions } from "./artifactStoreS3.ts";
export { Prisma } from "./generated/client.ts";
export type { Job, EpochMetric, Tenant, Dataset, Checkpoint, Artifact } from "./generated/client.ts";
