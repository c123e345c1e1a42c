import { extname, join } from "node:path";
import { MAX_CLASSES } from "@trainyard/datasets";
import { safeEntryPath } from "./archive.ts";
import { readCsv, type CsvLimits } from "./csv.ts";
import { DatasetError } from "./errors.ts";

export const SPLITS = ["train", "val", "test"] as const;
export type SplitName = (typeof SPLITS)[number];

/** An image, by its path under the extraction directory, and its class index. */
export interface Sample {
  path: string;
  label: number;
}

export interface Layout {
  kind: "imagefolder" | "csv";
  classes: string[];
  /** An absent split is empty. */
  splits: Record<SplitName, Sample[]>;
}

const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".avif"];
const IMAGE_TYPES = "png, jpeg, gif, webp, tiff or avif";

/** Class name → index: one lookup per image stays constant-time with thousands of classes. */
const labelIndex = (classes: string[]) => new Map(classes.map((name, index) => [name, index]));
const isImage = (path: string) => IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());
const hasTrain = (files: string[], root: string) => files.some((file) => file === `${root}train.csv` || file.startsWith(`${root}train/`));

/** Where train/ or train.csv is: the top level, or the one folder an archiver wrapped everything in. */
function findRoot(files: string[]): string {
  if (hasTrain(files, "")) return "";
  const tops = new Set(files.filter((file) => file.includes("/")).map((file) => `${file.split("/")[0]}/`));
  const [top] = tops;
  if (tops.size === 1 && hasTrain(files, top)) return top;
  throw new DatasetError("the archive has neither train/ (ImageFolder layout: train/<class>/<image>) nor train.csv (CSV layout)");
}

function imageFolderLayout(root: string, files: string[]): Layout {
  const folders = new Map<SplitName, Map<string, string[]>>(SPLITS.map((split) => [split, new Map()]));
  for (const file of files.filter((path) => path.startsWith(root)).sort()) {
    const [split, className, ...rest] = file.slice(root.length).split("/");
    const classes = folders.get(split as SplitName);
    if (!classes || className === undefined) continue;
    if (rest.length === 0) {
      if (isImage(file)) throw new DatasetError(`${split}/${className} is not inside a class folder (expected ${split}/<class>/<image>)`);
      continue;
    }
    const images = classes.get(className) ?? [];
    if (isImage(file)) images.push(file);
    classes.set(className, images);
  }
  const trainFolders = folders.get("train")!;
  if (trainFolders.size === 0) throw new DatasetError("train/ has no class folders (expected train/<class>/<image>)");
  const classes = [...trainFolders.keys()].sort();
  const labelOf = labelIndex(classes);
  const splits = {} as Record<SplitName, Sample[]>;
  for (const split of SPLITS) {
    splits[split] = [...folders.get(split)!].flatMap(([className, images]) => {
      const label = labelOf.get(className) ?? -1;
      if (label < 0) throw new DatasetError(`${split}/ has a class folder "${className}" that train/ does not have`);
      if (split === "train" && images.length === 0) throw new DatasetError(`train/${className}/ has no images (${IMAGE_TYPES})`);
      return images.map((path) => ({ path, label }));
    });
  }
  return { kind: "imagefolder", classes, splits };
}

export interface CsvInput {
  limits: CsvLimits;
  signal: AbortSignal;
}

interface CsvRow {
  at: string;
  path: string;
  label: string;
}

async function readCsvSplit(extractDir: string, root: string, present: Set<string>, split: SplitName, csv: CsvInput): Promise<CsvRow[]> {
  const name = `${split}.csv`;
  if (!present.has(`${root}${name}`)) return [];
  const records = readCsv(join(extractDir, root, name), name, csv.limits, csv.signal);
  const first = await records.next();
  const header: string[] = first.done ? [] : first.value;
  const columns = header.map((column) => column.trim().toLowerCase());
  const imageColumn = columns.indexOf("image");
  const labelColumn = columns.indexOf("label");
  if (imageColumn < 0 || labelColumn < 0) {
    await records.return(undefined);
    throw new DatasetError(`${name} needs the columns image and label; its header is "${header.join(",")}"`);
  }
  // Only the two fields are kept per row; the row limit bounds how many.
  const rows: CsvRow[] = [];
  let index = 0;
  for await (const row of records) {
    index += 1;
    if (row.every((value) => value.trim() === "")) continue;
    const at = `${name} row ${index}`;
    const image = row[imageColumn]?.trim() ?? "";
    const label = row[labelColumn]?.trim() ?? "";
    if (!image) throw new DatasetError(`${at}: image is empty`);
    if (!label) throw new DatasetError(`${at}: label is empty`);
    let relative: string | null;
    try {
      relative = safeEntryPath(image);
    } catch {
      throw new DatasetError(`${at}: image ${image} points outside the archive`);
    }
    if (!relative || !present.has(`${root}${relative}`)) throw new DatasetError(`${at}: image ${image} not found`);
    if (!isImage(relative)) throw new DatasetError(`${at}: ${image} is not a supported image (${IMAGE_TYPES})`);
    rows.push({ at, path: `${root}${relative}`, label });
  }
  return rows;
}

async function csvLayout(extractDir: string, root: string, files: string[], csv: CsvInput): Promise<Layout> {
  const present = new Set(files);
  const rows = {} as Record<SplitName, CsvRow[]>;
  for (const split of SPLITS) rows[split] = await readCsvSplit(extractDir, root, present, split, csv);
  if (rows.train.length === 0) throw new DatasetError("train.csv lists no images");
  const classes = [...new Set(rows.train.map((row) => row.label))].sort();
  const labelOf = labelIndex(classes);
  const splits = {} as Record<SplitName, Sample[]>;
  for (const split of SPLITS) {
    splits[split] = rows[split].map(({ at, path, label }) => {
      const index = labelOf.get(label) ?? -1;
      if (index < 0) throw new DatasetError(`${at}: label "${label}" does not occur in train.csv`);
      return { path, label: index };
    });
  }
  return { kind: "csv", classes, splits };
}

/** Finds the layout and lists every image with its class; train.csv wins over train/ when both exist. */
export async function readLayout(extractDir: string, files: string[], csv: CsvInput): Promise<Layout> {
  const root = findRoot(files);
  const layout = files.includes(`${root}train.csv`) ? await csvLayout(extractDir, root, files, csv) : imageFolderLayout(root, files);
  if (layout.classes.length < 2) throw new DatasetError(`train has ${layout.classes.length} class; a classifier needs at least 2`);
  if (layout.classes.length > MAX_CLASSES)
    throw new DatasetError(`train has ${layout.classes.length} classes; at most ${MAX_CLASSES} are supported`);
  return layout;
}
