import { open, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  encodeUploadedLabels,
  seededRandom,
  UPLOADED_DATASET_META,
  UPLOADED_DATASET_VERSION,
  type UploadedDatasetMeta,
  type UploadedSplitFiles,
} from "@trainyard/datasets";
import { extractArchive, type ArchiveKind, type ExtractLimits } from "./archive.ts";
import { DatasetError, formatBytes } from "./errors.ts";
import { chooseShape, decodeImage, probeImage, type ImageShape } from "./images.ts";
import { readLayout, SPLITS, type Sample, type SplitName } from "./archiveLayout.ts";

export interface ProcessLimits extends ExtractLimits {
  /** Records a CSV may hold (header and blank lines included) and characters one may take. */
  csvRows: number;
  csvLineLength: number;
  /** Decoded bytes of one split; workers read each split file whole. */
  splitBytes: number;
}

export interface ProcessedDataset {
  classes: string[];
  counts: Record<SplitName, number>;
  imageShape: ImageShape;
}

/** Without a test split, this share of each class is held out of train, with this seed. */
export const HOLDOUT = { fraction: 0.1, seed: 1729 } as const;
const PROBE_WINDOW = 32;
const DECODE_WINDOW = 8;

function holdOutTest(train: Sample[], classCount: number): { train: Sample[]; test: Sample[] } {
  const random = seededRandom(HOLDOUT.seed);
  // One pass, not one filter per class: 10,000 classes × a large train split would be quadratic.
  const byClass = Array.from({ length: classCount }, (): Sample[] => []);
  for (const sample of train) byClass[sample.label].push(sample);
  for (const samples of byClass) {
    for (let i = samples.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [samples[i], samples[j]] = [samples[j], samples[i]];
    }
  }
  const takes = byClass.map((samples) => Math.round(samples.length * HOLDOUT.fraction));
  // A tiny upload still gets one test image, from its largest class.
  if (takes.reduce((sum, take) => sum + take, 0) === 0) takes[byClass.indexOf(byClass.reduce((a, b) => (b.length > a.length ? b : a)))] = 1;
  return {
    test: byClass.flatMap((samples, label) => samples.slice(0, takes[label])),
    train: byClass.flatMap((samples, label) => samples.slice(takes[label])),
  };
}

/** Runs `run` over items a window at a time and yields the results in order. */
async function* windowed<T, R>(items: T[], size: number, signal: AbortSignal, run: (item: T) => Promise<R>): AsyncGenerator<R> {
  for (let start = 0; start < items.length; start += size) {
    signal.throwIfAborted();
    yield* await Promise.all(items.slice(start, start + size).map(run));
  }
}

export interface ProcessInput {
  name: string;
  archivePath: string;
  kind: ArchiveKind;
  /** Where the archive is unpacked; removed afterwards. */
  workDir: string;
  outDir: string;
  limits: ProcessLimits;
  signal: AbortSignal;
}

type ImageInfo = Awaited<ReturnType<typeof probeImage>>;

async function probeAll(extractDir: string, samples: Sample[], signal: AbortSignal): Promise<Map<string, ImageInfo>> {
  const infos = new Map<string, ImageInfo>();
  const probe = async (sample: Sample) => [sample.path, await probeImage(join(extractDir, sample.path), sample.path)] as const;
  for await (const [path, info] of windowed(samples, PROBE_WINDOW, signal, probe)) infos.set(path, info);
  return infos;
}

/** One split's images (decoded in order, a window at a time) and labels; answers how many were resized. */
async function writeSplit(
  files: UploadedSplitFiles,
  samples: Sample[],
  source: { extractDir: string; outDir: string; infos: Map<string, ImageInfo> },
  imageShape: ImageShape,
  signal: AbortSignal,
): Promise<number> {
  const { extractDir, outDir, infos } = source;
  const output = await open(join(outDir, files.images), "w");
  try {
    const decode = (sample: Sample) => decodeImage(join(extractDir, sample.path), sample.path, imageShape, infos.get(sample.path)!);
    for await (const pixels of windowed(samples, DECODE_WINDOW, signal, decode)) await output.write(pixels);
  } finally {
    await output.close();
  }
  await writeFile(
    join(outDir, files.labels),
    encodeUploadedLabels(samples.map((sample) => sample.label)),
  );
  return samples.filter(({ path }) => infos.get(path)!.width !== imageShape[1] || infos.get(path)!.height !== imageShape[0]).length;
}

/** Archive → uint8 images and uint16 labels per split plus meta.json (written last) in outDir. */
export async function processUpload({ name, archivePath, kind, workDir, outDir, limits, signal }: ProcessInput): Promise<ProcessedDataset> {
  const extractDir = join(workDir, "extracted");
  const extracted = await extractArchive(archivePath, kind, extractDir, limits, signal);
  const layout = await readLayout(extractDir, extracted, { limits: { rows: limits.csvRows, lineLength: limits.csvLineLength }, signal });
  const heldOut = layout.splits.test.length === 0;
  const splits = heldOut ? { ...layout.splits, ...holdOutTest(layout.splits.train, layout.classes.length) } : layout.splits;
  const infos = await probeAll(
    extractDir,
    SPLITS.flatMap((split) => splits[split]),
    signal,
  );
  const imageShape = chooseShape([...infos.values()]);
  const imageBytes = imageShape[0] * imageShape[1] * imageShape[2];
  for (const split of SPLITS) {
    if (splits[split].length * imageBytes > limits.splitBytes) {
      throw new DatasetError(
        `the ${split} split decodes to ${formatBytes(splits[split].length * imageBytes)} (${splits[split].length} images of ` +
          `${imageShape.join("×")}); at most ${formatBytes(limits.splitBytes)}: upload smaller images`,
      );
    }
  }
  let resizedImages = 0;
  const files = {} as Record<SplitName, UploadedSplitFiles>;
  for (const split of SPLITS) {
    files[split] = { images: `${split}-images.u8`, labels: `${split}-labels.u16le`, count: splits[split].length };
    resizedImages += await writeSplit(files[split], splits[split], { extractDir, outDir, infos }, imageShape, signal);
  }
  const meta: UploadedDatasetMeta = {
    format: "trainyard-uploaded-dataset",
    version: UPLOADED_DATASET_VERSION,
    name,
    classes: layout.classes,
    imageShape,
    splits: { train: files.train, val: files.val.count > 0 ? files.val : null, test: files.test },
    heldOutTest: heldOut ? { ...HOLDOUT } : null,
    layout: layout.kind,
    resizedImages,
    createdAt: new Date().toISOString(),
  };
  await writeFile(join(outDir, `${UPLOADED_DATASET_META}.tmp`), JSON.stringify(meta, null, 2));
  await rename(join(outDir, `${UPLOADED_DATASET_META}.tmp`), join(outDir, UPLOADED_DATASET_META));
  await rm(workDir, { recursive: true, force: true });
  return { classes: layout.classes, counts: { train: files.train.count, val: files.val.count, test: files.test.count }, imageShape };
}
