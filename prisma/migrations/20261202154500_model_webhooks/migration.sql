-- Tenant-level subscriptions to registry events (model.version.created) and their deliveries.
-- A delivery row is written in the transaction that creates the version, so none is lost.

CREATE TABLE "ModelWebhook" (
    "id" TEXT NOT NULL,
    "tenantId" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "secret" TEXT,
    "events" TEXT[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ModelWebhook_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "ModelWebhook_tenantId_createdAt_idx" ON "ModelWebhook"("tenantId", "createdAt");
ALTER TABLE "ModelWebhook" ADD CONSTRAINT "ModelWebhook_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "ModelWebhookDelivery" (
    "id" TEXT NOT NULL,
    "webhookId" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "statusCode" INTEGER,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),
    "failedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ModelWebhookDelivery_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "ModelWebhookDelivery_webhookId_createdAt_idx" ON "ModelWebhookDelivery"("webhookId", "createdAt");
CREATE INDEX "ModelWebhookDelivery_deliveredAt_failedAt_nextAttemptAt_idx" ON "ModelWebhookDelivery"("deliveredAt", "failedAt", "nextAttemptAt");
ALTER TABLE "ModelWebhookDelivery" ADD CONSTRAINT "ModelWebhookDelivery_webhookId_fkey" FOREIGN KEY ("webhookId") REFERENCES "ModelWebhook"("id") ON DELETE CASCADE ON UPDATE CASCADE;
