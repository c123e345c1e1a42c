import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import fp from "fastify-plugin";
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from "fastify";
import { ModelOptionError } from "@trainyard/models";
import { Problem, RequestValidationError, type FieldError, type ProblemBody } from "../../problems.ts";

const PROBLEM_TYPE = "https://trainyard.dev/problems/";
const PROBLEM_JSON = "application/problem+json";

/** RFC 9457 problem details as every error of the API answers them. */
export function problemBody(status: number, title: string, detail: string, errors: FieldError[], requestId?: string): ProblemBody {
  return { type: `${PROBLEM_TYPE}${status}`, title, status, detail, errors, ...(requestId ? { requestId } : {}) };
}

/**
 * busboy (under @fastify/multipart) reports a body that is not well-formed multipart with a
 * plain Error and no status; these messages are the client's fault, not the server's.
 */
const MALFORMED_MULTIPART =
  /^(Unexpected end of (form|multipart data)|Malformed (part header|urlencoded form)|Multipart: Boundary not found|Missing Content-Type|Unsupported content type)/;

function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  title: string,
  detail: string,
  errors: FieldError[] = [],
) {
  return reply
    .status(status)
    .type(PROBLEM_JSON)
    .send(problemBody(status, title, detail, errors, request.id));
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (header too large: 431,
 * malformed request or header: 400), answered as problem+json on the raw socket.
 */
export const clientErrorHandler: NonNullable<FastifyServerOptions["clientErrorHandler"]> = (error, socket: Socket) => {
  if ((error as NodeJS.ErrnoException).code === "ECONNRESET" || socket.destroyed) return;
  const code = (error as NodeJS.ErrnoException).code;
  const [status, detail] =
    code === "HPE_HEADER_OVERFLOW"
      ? [431, "the request's headers are larger than the server accepts"]
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "the request was not received in time"]
        : [400, "the request is not valid HTTP (a malformed request line or header)"];
  const body = JSON.stringify(problemBody(status, STATUS_CODES[status] ?? "Client Error", detail, []));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: ${PROBLEM_JSON}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
};

/** Errors Fastify's router raises before a route runs (a path that is not valid percent-encoding: 400; a path segment too long: 414). */
export const frameworkErrors: NonNullable<FastifyServerOptions["frameworkErrors"]> = (error, request, reply) => {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  const detail =
    error.code === "FST_ERR_MAX_PARAM_LENGTH" ? "a path segment is longer than any id or name the API uses" : "the URL is not valid";
  void sendProblem(reply, request, status, STATUS_CODES[status] ?? "Bad Request", detail);
};

/** One error handler: known errors keep their status, 5xx bodies are masked; every body names the request. */
export default fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      let status = 500;
      let title = "Internal Server Error";
      let detail = "an unexpected error occurred; quote the requestId when reporting it";
      let errors: FieldError[] = [];
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
      } else if (error instanceof ModelOptionError) {
        // An architecture that cannot take the options, classes or input shape it was given.
        status = 400;
        title = "Bad Request";
        detail = error.message;
        errors = [{ path: error.path, message: error.message }];
      } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        status = error.statusCode;
        title = error.code ?? "Client Error";
        detail = error.message;
      } else if (!error.statusCode && MALFORMED_MULTIPART.test(error.message)) {
        status = 400;
        title = "Bad Request";
        detail = `the multipart/form-data body is malformed: ${error.message}`;
      }
      if (status >= 500) request.log.error({ err: error }, "request failed");
      return sendProblem(reply, request, status, title, detail, errors);
    });
    app.setNotFoundHandler((request, reply) => sendProblem(reply, request, 404, "Not Found", `no route ${request.method} ${request.url}`));
  },
  { name: "error-handler" },
);
