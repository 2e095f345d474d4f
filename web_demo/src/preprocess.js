// An image's pixels to the model's input tensor, prepared as the model was
// evaluated (convert/golden.py documents the algorithm; android_demo/core's
// ImagePreprocessor.java is the same code in Java): resize to cover the
// input divided by the evaluation crop, keeping the aspect ratio, with
// TensorFlow's antialiased bilinear filter (in float32, as TensorFlow
// computes it); take the centred crop; round each channel to an integer
// pixel; store raw pixels for float32 inputs, floor(pixel / scale +
// zeroPoint + 0.5) clamped for uint8 and int8.

const f32 = Math.fround;
const TYPED = { float32: Float32Array, uint8: Uint8Array, int8: Int8Array };
const RANGE = { uint8: [0, 255], int8: [-128, 127] };

/**
 * The input tensor's values for an RGBA image (ImageData's layout).
 * @param {Uint8ClampedArray|Uint8Array} rgba width * height * 4 bytes
 * @param {{shape: number[], type: string, scale: number, zeroPoint: number}} input
 * @param {number} evalCrop the model's evaluation crop, in (0, 1]
 */
export function inputTensor(rgba, width, height, input, evalCrop = 1) {
  if (rgba.length !== width * height * 4) {
    throw new Error(`Got ${rgba.length / 4} pixels for a ${width}x${height} image.`);
  }
  if (!(evalCrop > 0 && evalCrop <= 1)) throw new Error(`The evaluation crop must be in (0, 1]; got ${evalCrop}.`);
  const [, outHeight, outWidth] = input.shape;
  const pixels = resizedPixels(rgba, width, height, outHeight, outWidth, evalCrop);
  const out = new TYPED[input.type](pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    if (input.type === "float32") {
      out[i] = pixels[i];
    } else {
      const [low, high] = RANGE[input.type];
      const q = Math.floor(pixels[i] / input.scale + input.zeroPoint + 0.5);
      out[i] = Math.max(low, Math.min(high, q));
    }
  }
  return out;
}

/** The centred outHeight x outWidth crop of the covering resize, as R, G, B integers. */
export function resizedPixels(rgba, width, height, outHeight, outWidth, evalCrop) {
  const [coveredHeight, coveredWidth] = coveringSize(height, width, outHeight, outWidth, evalCrop);
  const rows = spans(height, coveredHeight, Math.floor((coveredHeight - outHeight) / 2), outHeight);
  const cols = spans(width, coveredWidth, Math.floor((coveredWidth - outWidth) / 2), outWidth);
  const out = new Int32Array(outHeight * outWidth * 3);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < 3; c++) {
        let value = 0; // double, as the Java core sums
        for (let i = 0; i < cols[x].weights.length; i++) {
          let column = 0;
          for (let j = 0; j < rows[y].weights.length; j++) {
            column += rows[y].weights[j] * rgba[((rows[y].start + j) * width + cols[x].start + i) * 4 + c];
          }
          value += cols[x].weights[i] * column;
        }
        out[(y * outWidth + x) * 3 + c] = Math.max(0, Math.min(255, Math.floor(value + 0.5)));
      }
    }
  }
  return out;
}

/** The size the image is resized to before the crop, in float32 as TensorFlow computes it. */
export function coveringSize(height, width, outHeight, outWidth, crop) {
  const cropped = f32(crop);
  const scale = Math.max(f32(f32(outHeight / cropped) / height), f32(f32(outWidth / cropped) / width));
  const roundHalfEven = (v) => {
    const floor = Math.floor(v);
    const rest = v - floor;
    return rest > 0.5 || (rest === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
  };
  return [
    Math.max(roundHalfEven(f32(height * scale)), outHeight),
    Math.max(roundHalfEven(f32(width * scale)), outWidth),
  ];
}

/** Source pixels and float32 weights of output pixels first .. first+count-1 along one axis. */
function spans(inSize, outSize, first, count) {
  const invScale = f32(1 / f32(outSize / inSize));
  const kernelScale = Math.max(invScale, 1);
  const inverseKernel = f32(1 / kernelScale);
  const found = [];
  for (let k = 0; k < count; k++) {
    const sample = f32(f32(first + k + 0.5) * invScale);
    let start = Math.ceil(f32(f32(sample - kernelScale) - 0.5));
    let end = Math.floor(f32(f32(sample + kernelScale) - 0.5));
    start = Math.min(Math.max(start, 0), inSize - 1);
    end = Math.min(Math.max(end, 0), inSize - 1) + 1;
    const weights = new Float32Array(end - start);
    let total = 0;
    for (let s = start; s < end; s++) {
      const position = f32(f32(f32(s + 0.5) - sample) * inverseKernel);
      weights[s - start] = Math.max(0, f32(1 - Math.abs(position)));
      total = f32(total + weights[s - start]);
    }
    for (let i = 0; i < weights.length; i++) weights[i] = f32(weights[i] / total);
    found.push({ start, weights });
  }
  return found;
}
