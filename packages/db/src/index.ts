export { createDb, type Db } from "./client.ts";
export { applyMigrations, defaultMigrationsDir, ensureDatabase, type MigrationResult } from "./migrate.ts";
export { listenToChannel, type ChannelHandlers } from "./notifications.ts";
export { createSqlPool, type SqlPool } from "./sql.ts";
export { CHUNK_BYTES, putArtifact, readArtifact, streamArtifact, type ArtifactInput } from "./artifacts.ts";
export { Prisma } from "./generated/client.ts";
export type { Job, EpochMetric, Tenant, Dataset, Checkpoint, Artifact } from "./generated/client.ts";
