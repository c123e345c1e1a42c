import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

export type { components, paths };
export type TrainyardClient = Client<paths>;

export interface TrainyardClientOptions {
  /** e.g. `http://127.0.0.1:8080` (no trailing `/v1`: paths carry it). */
  baseUrl: string;
  apiKey: string;
  /** A custom fetch (tests, proxies); defaults to the global one. */
  fetch?: (request: Request) => Promise<Response>;
}

/**
 * A client typed from the API's OpenAPI document: `dataOf(client.GET("/v1/jobs/{id}", { params: { path: { id } } }))`.
 * A non-2xx answer rejects with a TrainyardApiError; an unreachable API with fetch's TypeError.
 */
export function createTrainyardClient({ baseUrl, apiKey, fetch }: TrainyardClientOptions): TrainyardClient {
  const client = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ""),
    headers: { authorization: `Bearer ${apiKey}` },
    ...(fetch ? { fetch } : {}),
  });
  client.use({
    async onResponse({ request, response }) {
      if (response.ok) return undefined;
      throw new TrainyardApiError(request.method, new URL(request.url).pathname, response.status, await problemOf(response));
    },
  });
  return client;
}

/** An RFC 9457 problem the API answered with. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

/** A non-2xx answer; the message names the request, the status, the detail and each field error. */
export class TrainyardApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    const fields = problem?.errors?.map((error) => `\n  ${error.path || "(body)"}: ${error.message}`).join("") ?? "";
    super(`${method} ${path} → ${status}: ${problem?.detail ?? problem?.title ?? "no detail"}${fields}`);
  }
}

async function problemOf(response: Response): Promise<Problem | null> {
  try {
    const body: unknown = await response.clone().json();
    return typeof body === "object" && body !== null ? (body as Problem) : null;
  } catch {
    return null;
  }
}

/**
 * The data of an answer (undefined for a 204). Every non-2xx answer has already been thrown as a
 * TrainyardApiError by the client's middleware, so this only narrows the type.
 */
export async function dataOf<T>(call: Promise<{ data?: T; response: Response }>): Promise<T> {
  return (await call).data as T;
}
