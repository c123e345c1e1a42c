/** The bare Fastify route bench:api compares the API against: same framework, same machine, no work. */
import Fastify from "fastify";

const server = Fastify({ logger: false });
server.get("/bare/:id", async (request) => ({ id: (request.params as { id: string }).id, status: "queued" }));
await server.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" });
process.send?.({ port: (server.server.address() as { port: number }).port });
process.once("SIGTERM", () => void server.close().then(() => process.exit(0)));
