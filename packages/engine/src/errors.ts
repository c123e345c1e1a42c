import type { ErrorCode } from "@trainyard/shared";

/** A failure with a code the job can end with (see ERROR_CODES for which are retried). */
export class TrainingError extends Error {
  override name = "TrainingError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
