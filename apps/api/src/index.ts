export { buildServer } from "./composition.ts";
export { loadApiConfig, type ApiConfig } from "./config.ts";
export { startApi } from "./server.ts";
export { createApiKey } from "./services/apiKeys.ts";
