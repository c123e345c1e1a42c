import { createHmac } from "node:crypto";

/**
 * `x-trainyard-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, as Stripe
 * signs its webhooks: the timestamp is signed with the body, so a receiver can refuse replays
 * of an old request as well as forged ones.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const digest = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${digest}`;
}

export const SIGNATURE_DESCRIPTION =
  "When the webhook has a `secret`, every request carries `x-trainyard-signature: t=<unix seconds>,v1=<hex>`, where " +
  "`<hex>` is the HMAC-SHA256, keyed with the secret, of `<t>.<raw request body>`. Verify it over the raw body with a " +
  "constant-time comparison and refuse a `t` older than a few minutes.";
