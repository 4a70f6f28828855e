/** Errors raised by the GPU runtime. Each names the op (and shapes) that caused it and says what to do. */
import { phrase } from '../wording';

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

/** No WebGPU adapter could be acquired. */
export class NoAdapterError extends GpuError {
  constructor(detail: string) {
    super(
      `No WebGPU adapter found${detail ? ` (${detail})` : ''}.\n` +
        `  - With a GPU: install its Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver.\n` +
        `  - Without a GPU on Linux: install a software Vulkan driver. On Debian 12:\n` +
        `      echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list\n` +
        `      apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers\n` +
        `    (Debian 13 / Ubuntu 24.04: apt-get install mesa-vulkan-drivers). Mesa older than 23 is rejected by Dawn.\n` +
        `  - Pick an adapter with WEBGPU_ADAPTER=<name substring> and a driver with VK_ICD_FILENAMES=<icd.json>.`,
    );
    this.name = 'NoAdapterError';
  }
}

/** A validation or out-of-memory error reported by WebGPU, attributed to the ops that were encoded. */
export class GpuOpError extends GpuError {
  constructor(
    readonly kind: 'validation' | 'out-of-memory' | 'internal' | 'limit',
    readonly ops: string[],
    detail: string,
  ) {
    const where = ops.length === 1 ? `op ${ops[0]}` : `one of the ops [${ops.slice(0, 8).join(', ')}${ops.length > 8 ? `, … ${ops.length - 8} more` : ''}]`;
    const hint =
      kind === 'out-of-memory'
        ? `\n  The GPU ran out of memory: ${phrase('smallerWork')}.`
        : kind === 'limit'
          ? `\n  The work exceeds a device limit: ${phrase('smallerWork')}.`
          : '';
    super(`GPU ${kind} error in ${where}: ${detail}${hint}`);
    this.name = kind === 'out-of-memory' ? 'GpuOutOfMemoryError' : 'GpuOpError';
  }
}

/** The device was lost (driver crash, GPU reset, or destroy()). */
export class DeviceLostError extends GpuError {
  constructor(reason: string, message: string) {
    super(
      `The GPU device was lost (${reason}${message ? `: ${message}` : ''}). ` +
        `Nothing more can run on it; ${phrase('restartDevice')}.`,
    );
    this.name = 'DeviceLostError';
  }
}
