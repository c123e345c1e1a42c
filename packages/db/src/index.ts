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
  registerArtifactStore,
  type ArtifactStore,
  type StoredObject,
} from "./artifactStore.ts";
export {
  createS3ArtifactStore,
  openArtifactStore,
  parseS3Url,
  S3_PART_BYTES,
  type ArtifactStoreSettings,
  type S3ArtifactStoreOptions,
} from "./artifactStoreS3.ts";
export { Prisma } from "./generated/client.ts";
export type { Job, EpochMetric, Tenant, Dataset, Checkpoint, Artifact } from "./generated/client.ts";
