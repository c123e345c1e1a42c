-- A key's name (e.g. "ci") says what it is for in GET /v1/keys; keys made before it are "default".
ALTER TABLE "ApiKey" ADD COLUMN "name" TEXT NOT NULL DEFAULT 'default';
