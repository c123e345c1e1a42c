import fp from "fastify-plugin";
import multipart from "@fastify/multipart";

/** multipart/form-data with one file, limited by TRAINYARD_UPLOAD_LIMIT_BYTES rather than the JSON body limit. */
export default fp(
  async (app) => {
    await app.register(multipart, {
      limits: { fileSize: app.deps.config.TRAINYARD_UPLOAD_LIMIT_BYTES, files: 1, fields: 10, fieldSize: 64 * 1024, parts: 20 },
    });
  },
  { name: "multipart", dependencies: ["deps"] },
);
