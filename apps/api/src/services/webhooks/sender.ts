import http from "node:http";
import https from "node:https";
import { isPrivateAddress, literalAddress, publicOnlyLookup, RefusedAddressError } from "./addressPolicy.ts";

export interface WebhookRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
}

export interface SendOptions {
  timeoutMs: number;
  allowPrivateAddresses: boolean;
  /** Aborts the request when the dispatcher stops. */
  signal: AbortSignal;
}

/**
 * POSTs one webhook and answers the response's status code. Redirects are not followed (a
 * redirect could lead to an address the check refused); the response body is not read.
 */
export function postWebhook({ url, body, headers }: WebhookRequest, options: SendOptions): Promise<number> {
  const target = new URL(url);
  const literal = literalAddress(target.hostname);
  if (!options.allowPrivateAddresses && literal && isPrivateAddress(literal))
    return Promise.reject(new RefusedAddressError(target.hostname, literal));
  const client = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        agent: false,
        lookup: options.allowPrivateAddresses ? undefined : publicOnlyLookup,
        signal: options.signal,
      },
      (response) => {
        clearTimeout(timer);
        response.on("error", () => undefined);
        response.destroy();
        resolve(response.statusCode ?? 0);
      },
    );
    const timer = setTimeout(() => request.destroy(new Error(`no response within ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(body);
  });
}
