import fp from "fastify-plugin";
import { bearerToken } from "../../services/apiKeys.ts";
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
      const key = bearerToken(request.headers.authorization);
      if (!key) throw unauthorized("send Authorization: Bearer <api key>");
      const tenantId = await app.deps.apiKeys.tenantFor(key);
      if (!tenantId) throw unauthorized("unknown or revoked API key");
      request.tenantId = tenantId;
    });
  },
  { name: "auth", dependencies: ["deps"] },
);
