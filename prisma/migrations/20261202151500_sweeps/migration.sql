-- Hyperparameter sweeps: a sweep's spec and state, and one row per trial, enumerated at submit
-- (so the planner only ever submits rows it finds, and a trial's job id is recorded beside it).

CREATE TABLE "Sweep" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "best" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    CONSTRAINT "Sweep_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "Sweep_tenantId_createdAt_id_idx" ON "Sweep"("tenantId", "createdAt" DESC, "id" DESC);
CREATE INDEX "Sweep_status_idx" ON "Sweep"("status");
ALTER TABLE "Sweep" ADD CONSTRAINT "Sweep_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "SweepTrial" (
    "sweepId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "params" JSONB NOT NULL,
    "jobId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "pruned" BOOLEAN NOT NULL DEFAULT false,
    "value" DOUBLE PRECISION,
    "epochsDone" INTEGER NOT NULL DEFAULT 0,
    "rungsPassed" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    CONSTRAINT "SweepTrial_pkey" PRIMARY KEY ("sweepId", "index")
);
CREATE UNIQUE INDEX "SweepTrial_jobId_key" ON "SweepTrial"("jobId");
ALTER TABLE "SweepTrial" ADD CONSTRAINT "SweepTrial_sweepId_fkey" FOREIGN KEY ("sweepId") REFERENCES "Sweep"("id") ON DELETE CASCADE ON UPDATE CASCADE;
