import type { FastifyBaseLogger } from "fastify";
import type { Db } from "@trainyard/db";
import { createPeriodicTask } from "../periodic.ts";
import { RefusedAddressError } from "./addressPolicy.ts";
import { createWebhookDeliveryStore, type ClaimedDelivery, type DeliveryOutcome } from "./deliveryStore.ts";
import { createModelDeliveryStore, type ClaimedModelDelivery } from "./modelEvents.ts";
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

/** One delivery, job or registry event, as the dispatcher sends it. */
interface Sendable {
  id: string;
  event: string;
  /** The JSON body, in the order the fields are sent. */
  envelope: Record<string, unknown>;
  attempts: number;
  webhook: { url: string; secret?: string | null } | null;
}

const jobSendable = (delivery: ClaimedDelivery): Sendable => {
  const { id, type, jobId, createdAt, data } = delivery.payload;
  return {
    id: delivery.id,
    event: delivery.event,
    envelope: { id, type, jobId, createdAt, data },
    attempts: delivery.attempts,
    webhook: delivery.webhook,
  };
};

const modelSendable = (delivery: ClaimedModelDelivery): Sendable => {
  const { id, type, createdAt, data } = delivery.payload;
  return {
    id: delivery.id,
    event: delivery.event,
    envelope: { id, type, createdAt, data },
    attempts: delivery.attempts,
    webhook: { url: delivery.url, secret: delivery.secret },
  };
};

function webhookRequest(delivery: Sendable, url: string, secret: string | null | undefined) {
  const body = JSON.stringify(delivery.envelope);
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
 * Sends job events to the jobs' webhooks, and registry events (model.version.created) to the
 * tenants' model webhooks: each round plans deliveries for new job events, claims the due ones
 * of both kinds and POSTs them; a non-2xx answer, a timeout or a network error is retried with
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
  const modelStore = createModelDeliveryStore(db);
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  /** A sender that dies mid-request leaves its claim to expire after this; then it is retried. */
  const leaseMs = timeoutMs * 3;

  async function attempt(delivery: Sendable): Promise<DeliveryOutcome> {
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

  async function deliver(
    delivery: Sendable,
    records: Pick<typeof store, "record" | "release">,
    context: Record<string, unknown>,
  ): Promise<void> {
    const outcome = await attempt(delivery);
    if (stopping.signal.aborted && outcome.kind !== "delivered") return records.release(delivery.id, new Date());
    await records.record(delivery.id, outcome, new Date());
    if (outcome.kind === "failed")
      logger.warn({ deliveryId: delivery.id, ...context, err: outcome.error }, "webhook delivery failed; giving up");
  }

  function startSending(delivery: Sendable, records: Pick<typeof store, "record" | "release">, context: Record<string, unknown>) {
    const sending: Promise<void> = deliver(delivery, records, context)
      .catch((error: Error) => logger.warn({ deliveryId: delivery.id, err: error.message }, "recording a webhook delivery failed"))
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  }

  async function round(): Promise<void> {
    await planner.plan();
    let free = concurrency - inFlight.size;
    if (free <= 0 || stopping.signal.aborted) return;
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + leaseMs);
    for (const delivery of await store.claimDue(free, now, leaseUntil))
      startSending(jobSendable(delivery), store, { jobId: delivery.jobId });
    free = concurrency - inFlight.size;
    if (free <= 0) return;
    for (const delivery of await modelStore.claimDue(free, now, leaseUntil)) {
      startSending(modelSendable(delivery), modelStore, { event: delivery.event });
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
