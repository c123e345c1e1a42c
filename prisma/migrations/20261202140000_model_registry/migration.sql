-- Model registry: named, versioned snapshots of a job's best or last checkpoint. A version refers
-- to the job's stored artifacts (ModelVersionArtifact) instead of copying them.

ALTER TABLE "Artifact" ALTER COLUMN "jobId" DROP NOT NULL;

CREATE TABLE "Model" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "nextVersion" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Model_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "Model_tenantId_name_key" ON "Model"("tenantId", "name");
ALTER TABLE "Model" ADD CONSTRAINT "Model_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "ModelVersion" (
    "id" TEXT NOT NULL,
    "modelId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "description" TEXT,
    "sourceJobId" TEXT,
    "checkpoint" TEXT,
    "architecture" TEXT NOT NULL,
    "architectureOptions" JSONB NOT NULL DEFAULT '{}',
    "inputShape" JSONB NOT NULL,
    "labels" JSONB NOT NULL DEFAULT '[]',
    "metrics" JSONB,
    "spec" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ModelVersion_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ModelVersion_modelId_version_key" ON "ModelVersion"("modelId", "version");
ALTER TABLE "ModelVersion" ADD CONSTRAINT "ModelVersion_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "ModelAlias" (
    "modelId" TEXT NOT NULL,
    "alias" TEXT NOT NULL,
    "versionId" TEXT NOT NULL,
    CONSTRAINT "ModelAlias_pkey" PRIMARY KEY ("modelId", "alias")
);
CREATE INDEX "ModelAlias_versionId_idx" ON "ModelAlias"("versionId");
ALTER TABLE "ModelAlias" ADD CONSTRAINT "ModelAlias_modelId_fkey" FOREIGN KEY ("modelId") REFERENCES "Model"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ModelAlias" ADD CONSTRAINT "ModelAlias_versionId_fkey" FOREIGN KEY ("versionId") REFERENCES "ModelVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "ModelVersionArtifact" (
    "versionId" TEXT NOT NULL,
    "artifactId" TEXT NOT NULL,
    CONSTRAINT "ModelVersionArtifact_pkey" PRIMARY KEY ("versionId", "artifactId")
);
CREATE INDEX "ModelVersionArtifact_artifactId_idx" ON "ModelVersionArtifact"("artifactId");
ALTER TABLE "ModelVersionArtifact" ADD CONSTRAINT "ModelVersionArtifact_versionId_fkey" FOREIGN KEY ("versionId") REFERENCES "ModelVersion"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "ModelVersionArtifact" ADD CONSTRAINT "ModelVersionArtifact_artifactId_fkey" FOREIGN KEY ("artifactId") REFERENCES "Artifact"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Deleting a referenced artifact, however it happens (its job or checkpoint deleted in cascade, a
-- best/last replaced by putArtifact), only detaches it from its job: the version keeps its weights.
CREATE FUNCTION "trainyard_artifact_keep_referenced"() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "ModelVersionArtifact" WHERE "artifactId" = OLD."id") THEN
    UPDATE "Artifact" SET "jobId" = NULL, "checkpointId" = NULL WHERE "id" = OLD."id";
    RETURN NULL;
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "Artifact_keep_referenced" BEFORE DELETE ON "Artifact"
  FOR EACH ROW EXECUTE FUNCTION "trainyard_artifact_keep_referenced"();

-- The last reference gone, an artifact no job holds any more is deleted (its chunks in cascade).
CREATE FUNCTION "trainyard_artifact_release"() RETURNS trigger AS $$
BEGIN
  DELETE FROM "Artifact" a
   WHERE a."id" = OLD."artifactId" AND a."jobId" IS NULL
     AND NOT EXISTS (SELECT 1 FROM "ModelVersionArtifact" r WHERE r."artifactId" = OLD."artifactId");
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "ModelVersionArtifact_release" AFTER DELETE ON "ModelVersionArtifact"
  FOR EACH ROW EXECUTE FUNCTION "trainyard_artifact_release"();
