/**
 * What a plug-in group of page checks (gradcheck/groups.ts) gets from the suite (GradCheckSuite in
 * gradcheck-cases.ts): tensors freed after each case, comparisons recorded at a tolerance, and one case at a time
 * (an exception fails that case only).
 */
import type { Tensor, Shape } from '../../autograd/tensor';
import type { GpuRuntime } from '../../gpu/runtime';

export interface PageChecks {
  readonly rt: GpuRuntime;
  /** A float32 tensor of `data`, freed after the case; `grad` marks it as a leaf that collects gradients. */
  t(data: ArrayLike<number>, shape: Shape, grad?: boolean): Tensor;
  /** Free `t` after the case. */
  track<T extends Tensor | null>(t: T): T;
  /** Record relative L2 error of `got` against `want`; the check passes at ≤ tol. */
  record(kernel: string, name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void;
  /** record() for a tensor's values (a null tensor fails). */
  compare(kernel: string, name: string, t: Tensor | null, want: ArrayLike<number>, tol: number): Promise<void>;
  /** Run one case: an exception fails it; every tensor made by t()/track() is freed afterwards. */
  run(kernel: string, name: string, body: () => Promise<void>): Promise<void>;
}

/** A family's page checks: the kernel names it covers (each must get at least one check) and the checks. */
export interface PageCheckGroup {
  kernels: readonly string[];
  /** The group's kernels this adapter does not offer (a feature it lacks): not checked, and not counted as skipped. */
  notOffered?(rt: GpuRuntime): readonly string[];
  run(c: PageChecks): Promise<void>;
}
