/** The status line of a model's first-step compile (GpuRuntime.precompile), shared by the CLI and the page. */

/** `compiling kernels 12/52`: shown on the CLI's stderr and in the page's progress while the pipelines compile. */
export function compileLine(done: number, total: number): string {
  return `compiling kernels ${done}/${total}`;
}
