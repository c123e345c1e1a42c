import * as tf from "@tensorflow/tfjs";

/**
 * The cpu backend's stock Conv2DBackpropFilter reads every operand through TensorBuffer.get and manages
 * ~10 M multiply-adds a second, so one training step of a mid-sized network takes tens of seconds.
 * This replacement walks the same sum over flat typed arrays, one output pixel and filter tap at a time.
 * Channels-last, no dilation (everything the zoo builds); anything else goes to the stock kernel.
 * training.test.ts checks it against the stock kernel.
 */

const kernelName = "Conv2DBackpropFilter";
let stock: tf.KernelConfig | undefined;

interface FilterGradientAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number;
  dataFormat: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: [number, number, number, number];
}

function filterGradient(x: Float32Array, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, padInfo } = info;
  const gradient = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let outRow = 0; outRow < outHeight; outRow++) {
      for (let outCol = 0; outCol < outWidth; outCol++) {
        const dyOffset = ((b * outHeight + outRow) * outWidth + outCol) * outChannels;
        for (let tapRow = 0; tapRow < filterHeight; tapRow++) {
          const inRow = outRow * strideHeight + tapRow - padInfo.top;
          if (inRow < 0 || inRow >= inHeight) continue;
          for (let tapCol = 0; tapCol < filterWidth; tapCol++) {
            const inCol = outCol * strideWidth + tapCol - padInfo.left;
            if (inCol < 0 || inCol >= inWidth) continue;
            const xOffset = ((b * inHeight + inRow) * inWidth + inCol) * inChannels;
            const gradientOffset = (tapRow * filterWidth + tapCol) * inChannels * outChannels;
            for (let inChannel = 0; inChannel < inChannels; inChannel++) {
              const xValue = x[xOffset + inChannel];
              if (xValue === 0) continue;
              const row = gradientOffset + inChannel * outChannels;
              for (let outChannel = 0; outChannel < outChannels; outChannel++) {
                gradient[row + outChannel] += xValue * dy[dyOffset + outChannel];
              }
            }
          }
        }
      }
    }
  }
  return gradient;
}

export function useFastConvFilterGradient(): void {
  if (stock) return;
  stock = tf.getKernel(kernelName, "cpu");
  if (!stock) throw new Error("the cpu backend has no Conv2DBackpropFilter kernel");
  const fallback = stock.kernelFunc;
  tf.unregisterKernel(kernelName, "cpu");
  tf.registerKernel({
    kernelName,
    backendName: "cpu",
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const attrs = args.attrs as unknown as FilterGradientAttrs;
      if (attrs.dataFormat === "NCHW") return fallback(args);
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
      );
      const backend = args.backend as tf.KernelBackend & { data: { get(id: object): { values: Float32Array } }; makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo };
      const gradient = filterGradient(backend.data.get(x.dataId).values, backend.data.get(dy.dataId).values, info);
      return backend.makeTensorInfo(attrs.filterShape, "float32", gradient);
    },
  });
}

export function useStockConvFilterGradient(): void {
  if (!stock) return;
  tf.unregisterKernel(kernelName, "cpu");
  tf.registerKernel(stock);
  stock = undefined;
}
