/** The real API (apps/api) in a process of its own, so that bench:api can measure its CPU apart. */
import { startApi } from "@trainyard/api";

const server = await startApi(process.env);
process.send?.({ port: (server.server.address() as { port: number }).port });
