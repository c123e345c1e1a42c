import type { Dataset } from "@trainyard/db";
import type { BuiltinDatasetInfo } from "@trainyard/datasets";

const BUILTIN_CREATED_AT = "1970-01-01T00:00:00.000Z";

/** A data set as api.md shows it; counts are zero until processing is done. */
export function datasetView(dataset: Dataset) {
  return {
    id: dataset.id,
    name: dataset.name,
    status: dataset.status,
    builtin: false,
    classes: dataset.classes as string[],
    counts: { train: 0, val: 0, test: 0, ...(dataset.counts as object) },
    imageShape: (dataset.imageShape as [number, number, number] | null) ?? null,
    error: dataset.error,
    createdAt: dataset.createdAt.toISOString(),
  };
}

export function builtinDatasetView(dataset: BuiltinDatasetInfo) {
  return {
    id: dataset.name,
    name: dataset.name,
    status: "ready",
    builtin: true,
    classes: dataset.classes,
    counts: dataset.counts,
    imageShape: dataset.imageShape,
    error: null,
    createdAt: BUILTIN_CREATED_AT,
  };
}
