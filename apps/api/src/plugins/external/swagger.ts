import fp from "fastify-plugin";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { jsonSchemaTransform } from "fastify-type-provider-zod";

/** OpenAPI 3.1 generated from the same zod schemas that validate requests. */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Trainyard API",
          version: "1.0.0",
          description:
            "Training-as-a-service for image classifiers. Errors are RFC 9457 problem details. " +
            "Defaults: epochs 10, batchSize 256, SGD with the architecture's recommended learning rate, " +
            "validationSplit 0.1 (cut from the training set), seed chosen at random and recorded, priority 0 (0–100, higher first). " +
            "Idempotency-Key reused with a different body answers 409.",
        },
        components: { securitySchemes: { apiKey: { type: "http", scheme: "bearer" } } },
        security: [{ apiKey: [] }],
      },
      transform: jsonSchemaTransform,
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  },
  { name: "swagger" },
);
