-- Artifact storage behind an ArtifactStore: an artifact's bytes are in PostgreSQL chunks ("postgres",
-- as before) or in an S3-compatible bucket ("s3", under "key"); its metadata (size, sha256,
-- references) stays here either way. Sizes become bigint: VGG weights with optimizer state pass 2 GB.

ALTER TABLE "Artifact" ALTER COLUMN "size" TYPE BIGINT;
ALTER TABLE "Artifact" ADD COLUMN "store" TEXT NOT NULL DEFAULT 'postgres';
ALTER TABLE "Artifact" ADD COLUMN "key" TEXT;

-- Objects outside PostgreSQL whose artifact row is gone, however it went (a job or checkpoint deleted
-- in cascade, a best/last replaced, a version's last reference released by a trigger): the process
-- that holds the store deletes them and then the row (collectArtifactGarbage).
CREATE TABLE "ArtifactObjectDeletion" (
    "id" BIGSERIAL NOT NULL,
    "store" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ArtifactObjectDeletion_pkey" PRIMARY KEY ("id")
);

CREATE FUNCTION "trainyard_artifact_object_deleted"() RETURNS trigger AS $$
BEGIN
  IF OLD."store" <> 'postgres' AND OLD."key" IS NOT NULL THEN
    INSERT INTO "ArtifactObjectDeletion" ("store", "key") VALUES (OLD."store", OLD."key");
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- AFTER: a delete that Artifact_keep_referenced turned into a detach never reaches it.
CREATE TRIGGER "Artifact_object_deleted" AFTER DELETE ON "Artifact"
  FOR EACH ROW EXECUTE FUNCTION "trainyard_artifact_object_deleted"();
