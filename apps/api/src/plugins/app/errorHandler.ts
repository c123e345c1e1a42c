import fp from "fastify-plugin";
import type { FastifyError } from "fastify";
import { Problem, RequestValidationError } from "../../problems.ts";

const PROBLEM_TYPE = "https://trainyard.dev/problems/";

/** One error handler: known errors keep their status, 5xx bodies are masked; every body names the request. */
export default fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      let status = 500;
      let title = "Internal Server Error";
      let detail = "an unexpected error occurred; quote the requestId when reporting it";
      let errors: { path: string; message: string }[] = [];
      if (error instanceof Problem) {
        ({ status, title } = error);
        detail = error.message;
        errors = error.errors;
        reply.headers(error.headers);
      } else if (error instanceof RequestValidationError) {
        status = 400;
        title = "Bad Request";
        detail = error.message;
        errors = error.fieldErrors;
      } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        status = error.statusCode;
        title = error.code ?? "Client Error";
        detail = error.message;
      }
      if (status >= 500) request.log.error({ err: error }, "request failed");
      reply
        .status(status)
        .type("application/problem+json")
        .send({ type: `${PROBLEM_TYPE}${status}`, title, status, detail, errors, requestId: request.id });
    });
    app.setNotFoundHandler((request, reply) => {
      reply
        .status(404)
        .type("application/problem+json")
        .send({
          type: `${PROBLEM_TYPE}404`,
          title: "Not Found",
          status: 404,
          detail: `no route ${request.method} ${request.url}`,
          errors: [],
          requestId: request.id,
        });
    });
  },
  { name: "error-handler" },
);
