import type { FastifyBaseLogger } from "fastify";
import type { Db } from "@trainyard/db";
import { createPeriodicTask } from "../periodic.ts";
import { RefusedAddressError } from "./addressPolicy.ts";
import { createWebhookDeliveryStore, type ClaimedDelivery, type DeliveryOutcome } from "./deliveryStore.ts";
import { createDeliveryPlanner } from "./planner.ts";
import { nextAttemptAt } from "./retryPolicy.ts";
import { postWebhook } from "./sender.ts";
import { signatureHeader } from "./signature.ts";

export interface WebhookDispatcherOptions {
  db: Db;
  logger: FastifyBaseLogger;
  allowPrivateAddresses: boolean;
  backoffMs: number;
  maxAttempts?: number;
  timeoutMs?: number;
  /** Requests in flight at once from this instance. */
  concurrency?: number;
}

const USER_AGENT = "trainyard-webhooks/1";

function webhookRequest(delivery: ClaimedDelivery, url: string, secret: string | undefined) {
  const { id, type, jobId, createdAt, data } = delivery.payload;
  const body = JSON.stringify({ id, type, jobId, createdAt, data });
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "x-trainyard-event": delivery.event,
    "x-trainyard-delivery": delivery.id,
  };
  if (secret) headers["x-trainyard-signature"] = signatureHeader(secret, body, Math.floor(Date.now() / 1000));
  return { url, body, headers };
}

/**
 * Sends job events to the jobs' webhooks: each round plans deliveries for new events, claims
 * the due ones and POSTs them; a non-2xx answer, a timeout or a network error is retried with
 * exponential backoff until `maxAttempts`. Deliveries live in PostgreSQL, so they survive
 * restarts and any number of API instances can run a dispatcher.
 */
export function createWebhookDispatcher({
  db,
  logger,
  allowPrivateAddresses,
  backoffMs,
  maxAttempts = 8,
  timeoutMs = 10_000,
  concurrency = 16,
}: WebhookDispatcherOptions) {
  const planner = createDeliveryPlanner({ db });
  const store = createWebhookDeliveryStore(db);
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  /** A sender that dies mid-request leaves its claim to expire after this; then it is retried. */
  const leaseMs = timeoutMs * 3;

  async function attempt(delivery: ClaimedDelivery): Promise<DeliveryOutcome> {
    const failure = (statusCode: number | null, error: string): DeliveryOutcome => {
      const retryAt = nextAttemptAt(delivery.attempts + 1, { backoffMs, maxAttempts }, new Date());
      return retryAt ? { kind: "retry", statusCode, error, nextAttemptAt: retryAt } : { kind: "failed", statusCode, error };
    };
    if (!delivery.webhook) return { kind: "failed", statusCode: null, error: "the job has no webhook" };
    const request = webhookRequest(delivery, delivery.webhook.url, delivery.webhook.secret);
    try {
      const statusCode = await postWebhook(request, { timeoutMs, allowPrivateAddresses, signal: stopping.signal });
      if (statusCode >= 200 && statusCode < 300) return { kind: "delivered", statusCode };
      return failure(statusCode, `the receiver answered ${statusCode}`);
    } catch (error) {
      if (error instanceof RefusedAddressError) return { kind: "failed", statusCode: null, error: error.message };
      return failure(null, (error as Error).message);
    }
  }

  async function deliver(delivery: ClaimedDelivery): Promise<void> {
    const outcome = await attempt(delivery);
    if (stopping.signal.aborted && outcome.kind !== "delivered") return store.release(delivery.id, new Date());
    await store.record(delivery.id, outcome, new Date());
    if (outcome.kind === "failed")
      logger.warn({ deliveryId: delivery.id, jobId: delivery.jobId, err: outcome.error }, "webhook delivery failed; giving up");
  }

  async function round(): Promise<void> {
    await planner.plan();
    const free = concurrency - inFlight.size;
    if (free <= 0 || stopping.signal.aborted) return;
    const now = new Date();
    for (const delivery of await store.claimDue(free, now, new Date(now.getTime() + leaseMs))) {
      const sending: Promise<void> = deliver(delivery)
        .catch((error: Error) => logger.warn({ deliveryId: delivery.id, err: error.message }, "recording a webhook delivery failed"))
        .finally(() => inFlight.delete(sending));
      inFlight.add(sending);
    }
  }

  const task = createPeriodicTask(round, (error) => logger.warn({ err: error.message }, "webhook dispatch round failed; will retry"));
  return {
    /** Runs a round now and every `intervalMs`; 0 leaves webhooks unsent. */
    start(intervalMs: number) {
      if (intervalMs > 0) task.start(intervalMs);
    },
    /** Aborts requests in flight; their deliveries are given back, to be sent again. */
    async stop() {
      stopping.abort();
      await task.stop();
      await Promise.all(inFlight);
    },
  };
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;
