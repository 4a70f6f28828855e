/** Checks shared by the ops at their entry. */
import { type Tensor, shapeStr } from '../tensor';

/**
 * The empty-tensor policy (docs/numerics.md): no op takes a tensor with 0 elements (a batch of 0 images, a
 * layer of 0 channels). Each op calls this first, so the error names the op and the tensor, before any kernel
 * runs (kernels would otherwise bind empty ranges, or leave outputs and parameter gradients unwritten).
 */
export function requireNonEmpty(op: string, tensors: Record<string, Tensor | null | undefined>, opts: { allowF16?: boolean } = {}): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t && t.dtype === 'f16' && !opts.allowF16) {
      throw new Error(
        `${op}: ${name} ${shapeStr(t.shape)} is a float16 tensor, and ${op} takes float32 tensors only. Convert it with .float() first ` +
          `(float16 is supported by conv2d, linear, matmul, batch norm, pooling, dropout, the elementwise ops and the losses; see docs/precision.md).`,
      );
    }
    if (t && t.size === 0) {
      throw new Error(
        `${op}: ${name} ${shapeStr(t.shape)} is empty (0 elements). No op accepts an empty tensor (such as a batch of 0 images): skip an empty batch before the model.`,
      );
    }
  }
}
