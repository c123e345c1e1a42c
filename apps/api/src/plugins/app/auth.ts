import fp from "fastify-plugin";
import { tenantForApiKey } from "../../services/apiKeys.ts";
import { unauthorized } from "../../problems.ts";

declare module "fastify" {
  interface FastifyRequest {
    tenantId: string;
  }
}

/** Bearer API key → tenant; registered inside the /v1 scope only. */
export default fp(
  async (app) => {
    app.decorateRequest("tenantId", "");
    app.addHook("onRequest", async (request) => {
      const header = request.headers.authorization;
      const match = header?.match(/^Bearer\s+(\S+)$/i);
      if (!match) throw unauthorized("send Authorization: Bearer <api key>");
      const tenantId = await tenantForApiKey(app.deps.db, match[1]);
      if (!tenantId) throw unauthorized("unknown or revoked API key");
      request.tenantId = tenantId;
    });
  },
  { name: "auth", dependencies: ["deps"] },
);
