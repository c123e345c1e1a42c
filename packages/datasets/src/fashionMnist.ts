import { findIdx, readIdx } from "./idx.ts";
import { DatasetUnavailableError, type ImageSplit, type LoadedDataset } from "./types.ts";

export const FASHION_MNIST_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"];

export const DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

export function fashionMnistDir(): string {
  return process.env.TRAINYARD_FASHION_MNIST_DIR ?? DEFAULT_FASHION_MNIST_DIR;
}

const FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
};

export function fashionMnistAvailable(dir = fashionMnistDir()): boolean {
  return Object.values(FILES).every((base) => findIdx(dir, base) !== null);
}

function readSplit(dir: string, imagesBase: string, labelsBase: string): ImageSplit {
  const imagesPath = findIdx(dir, imagesBase);
  const labelsPath = findIdx(dir, labelsBase);
  if (!imagesPath || !labelsPath) {
    throw new DatasetUnavailableError(
      `Fashion-MNIST files not found in ${dir}: install Debian's dataset-fashion-mnist or set TRAINYARD_FASHION_MNIST_DIR`,
    );
  }
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims[0] !== labels.dims[0]) {
    throw new DatasetUnavailableError(`${imagesPath} has ${images.dims[0]} images but ${labelsPath} has ${labels.dims[0]} labels`);
  }
  return { images: images.data, labels: labels.data, count: images.dims[0] };
}

export function loadFashionMnist(dir = fashionMnistDir()): LoadedDataset {
  return {
    name: "fashion-mnist",
    classes: FASHION_MNIST_CLASSES,
    imageShape: [28, 28, 1],
    train: readSplit(dir, FILES.trainImages, FILES.trainLabels),
    val: null,
    test: readSplit(dir, FILES.testImages, FILES.testLabels),
  };
}
