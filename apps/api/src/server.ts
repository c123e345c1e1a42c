import { loadApiConfig } from "./config.ts";
import { buildServer } from "./composition.ts";

/** Starts the API alone: `trainyard api`. */
export async function startApi(env: NodeJS.ProcessEnv = process.env) {
  const config = loadApiConfig(env);
  const server = await buildServer(config);
  await server.listen({ port: config.PORT, host: config.HOST });
  const shutdown = async () => {
    await server.close();
    process.exit(0);
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  return server;
}
