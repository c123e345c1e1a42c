import { seededRandom } from "./random.ts";
import type { ImageSplit, LoadedDataset } from "./types.ts";

/** A small generated data set (no files): bright squares, discs, horizontal and vertical bars on noise. */
export const SYNTHETIC_SHAPES_CLASSES = ["square", "disc", "horizontal-bar", "vertical-bar"];
const SIDE = 28;

function drawShape(target: Uint8Array, offset: number, label: number, random: () => number): void {
  for (let p = 0; p < SIDE * SIDE; p += 1) target[offset + p] = Math.floor(random() * 60);
  const size = 8 + Math.floor(random() * 8);
  const top = Math.floor(random() * (SIDE - size));
  const left = Math.floor(random() * (SIDE - size));
  const centre = size / 2;
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      const inside =
        label === 0 ||
        (label === 1 && (y - centre + 0.5) ** 2 + (x - centre + 0.5) ** 2 <= centre ** 2) ||
        (label === 2 && Math.abs(y - centre) < 2) ||
        (label === 3 && Math.abs(x - centre) < 2);
      if (inside) target[offset + (top + y) * SIDE + left + x] = 180 + Math.floor(random() * 75);
    }
  }
}

function generate(count: number, seed: number): ImageSplit {
  const random = seededRandom(seed);
  const images = new Uint8Array(count * SIDE * SIDE);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i += 1) {
    labels[i] = i % SYNTHETIC_SHAPES_CLASSES.length;
    drawShape(images, i * SIDE * SIDE, labels[i], random);
  }
  return { images, labels, count };
}

export function loadSyntheticShapes(): LoadedDataset {
  return {
    name: "synthetic-shapes",
    classes: SYNTHETIC_SHAPES_CLASSES,
    imageShape: [SIDE, SIDE, 1],
    train: generate(4000, 1),
    val: null,
    test: generate(1000, 2),
  };
}
