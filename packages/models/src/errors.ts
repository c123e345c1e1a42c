/** The caller asked for something the zoo cannot build (unknown name, input too small, bad option). */
export class ModelOptionError extends Error {
  override name = "ModelOptionError";
  constructor(
    message: string,
    readonly path: string = "architecture",
  ) {
    super(message);
  }
}

export class UnknownModelError extends ModelOptionError {
  override name = "UnknownModelError";
}
