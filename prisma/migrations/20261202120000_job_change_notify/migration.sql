-- Job event streams follow one LISTEN connection per API process instead of polling each job:
-- every new JobEvent, and every change of a job's status or progress (or its deletion),
-- notifies channel "trainyard_job_changes" with the job's id. NOTIFY is delivered at commit.
CREATE FUNCTION "trainyard_notify_job_change"() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'JobEvent' THEN
    PERFORM pg_notify('trainyard_job_changes', NEW."jobId");
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('trainyard_job_changes', OLD."id");
  ELSE
    PERFORM pg_notify('trainyard_job_changes', NEW."id");
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "JobEvent_notify_insert" AFTER INSERT ON "JobEvent"
  FOR EACH ROW EXECUTE FUNCTION "trainyard_notify_job_change"();

CREATE TRIGGER "Job_notify_change" AFTER UPDATE OF "status", "progress" ON "Job"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status" OR OLD."progress"::text IS DISTINCT FROM NEW."progress"::text)
  EXECUTE FUNCTION "trainyard_notify_job_change"();

CREATE TRIGGER "Job_notify_delete" AFTER DELETE ON "Job"
  FOR EACH ROW EXECUTE FUNCTION "trainyard_notify_job_change"();

-- The per-tenant cap on queued jobs counts them at every submit.
CREATE INDEX "Job_tenantId_status_idx" ON "Job"("tenantId", "status");
