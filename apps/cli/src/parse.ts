import { InvalidArgumentError } from "commander";

/** Option value parsers: a bad value is a usage error (exit 2) that names the option. */
export function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError("a positive integer is expected");
  return parsed;
}

export function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError("an integer of 0 or more is expected");
  return parsed;
}

export function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError("a positive number is expected");
  return parsed;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
