import { createHash } from 'node:crypto';
import { PNG } from 'pngjs';

/** A real PNG whose colours derive from the prompt: the same prompt gives the same image. */
export function renderPng(prompt: string, width = 64, height = 64): Buffer {
  const digest = createHash('sha256').update(prompt).digest();
  const png = new PNG({ width, height });
  const [r1 = 0, g1 = 0, b1 = 0, r2 = 255, g2 = 255, b2 = 255] = digest;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height - 2 || 1);
      const i = (y * width + x) * 4;
      png.data[i] = Math.round(r1 + (r2 - r1) * t);
      png.data[i + 1] = Math.round(g1 + (g2 - g1) * t);
      png.data[i + 2] = Math.round(b1 + (b2 - b1) * t);
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}
