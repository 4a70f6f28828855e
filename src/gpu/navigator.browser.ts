/** The browser's side of the device seam. */
import { NoAdapterError } from './errors';

export function browserGPU(): GPU {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new NoAdapterError(
      'this browser has no navigator.gpu. Use a recent Chrome or Edge (WebGPU is on by default), ' +
        'Firefox 141+ or Safari 26+, or start Chromium with --enable-unsafe-webgpu; the page must be served over https or from localhost',
    );
  }
  return gpu;
}
