/** Node's side of the device seam: a `GPU` object from Dawn (npm `webgpu`). Only the CLI entry points import this. */
// Node modules are imported dynamically so that the browser bundle, which never calls nodeGPU(), loads.

export interface NodeGpuOptions {
  /** Dawn backend: vulkan, metal, d3d12 … (default: Dawn's choice). Also WEBGPU_BACKEND. */
  backend?: string;
  /** Adapter name to pick, as Dawn spells it (e.g. "llvmpipe", "SwiftShader"). Also WEBGPU_ADAPTER. */
  adapter?: string;
  /** Extra Dawn toggles, e.g. ['disable_robustness']. Also WEBGPU_DAWN_FEATURES (comma separated). */
  dawnFeatures?: string[];
}

export async function nodeGPU(opts: NodeGpuOptions = {}): Promise<GPU> {
  // The Vulkan loader warns when XDG_RUNTIME_DIR is missing; give it a private one.
  if (!process.env.XDG_RUNTIME_DIR) {
    const [{ mkdtempSync }, { tmpdir }, { join }] = await Promise.all([import('node:fs'), import('node:os'), import('node:path')]);
    process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'xdg-'));
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const backend = opts.backend ?? process.env.WEBGPU_BACKEND;
  const adapter = opts.adapter ?? process.env.WEBGPU_ADAPTER;
  const features = opts.dawnFeatures ?? (process.env.WEBGPU_DAWN_FEATURES ? process.env.WEBGPU_DAWN_FEATURES.split(',') : []);
  const args: string[] = [];
  if (backend) args.push(`backend=${backend}`);
  if (adapter) args.push(`adapter=${adapter}`);
  if (features.length) args.push(`enable-dawn-features=${features.join(',')}`);
  return create(args) as unknown as GPU;
}
