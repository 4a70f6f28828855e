/**
 * Every declared kernel contract, for test/kernel_contracts.test.ts (which checks each against its WGSL).
 * A family converted to `launch` adds its contracts here.
 */
import type { KernelContract } from './contract';
import { sgdKernel, sgdMultiKernel } from './sgd';
import { ampMultiKernel } from './amp/multi';
import { crossEntropyKernel } from './loss';
import { reduceKernel, reduceDimsKernel, selectKernel } from './reduce';
import { dropoutKernel } from './dropout';
import { maxPoolKernel, maxPoolKernelF16, avgPoolKernel } from './pool';
import { elementwiseKernel, unaryKernel, fillKernelContract } from './elementwise';
import { unaryKernelContracts } from './elementwise/unary_gen';
import { binaryKernelContracts } from './elementwise/binary_gen';
import { batchnormKernel, batchnormKernelF16, bnFoldKernel } from './batchnorm';
import { matmulPortableKernel } from './matmul/portable';
import { matmulPackKernel } from './matmul/pack';
import { matmulVec4Kernel } from './matmul/vec4';
import { matmulSubgroupKernel } from './matmul/subgroup';
import { matmulSmatrixGatherKernel, matmulSmatrixKernel, matmulSmatrixPackKernel } from './matmul/smatrix';
import { im2colKernel } from './conv/im2col';
import { winograd2Kernel, winograd4Kernel } from './conv/winograd';
import { stridedKernel, gatherKernel } from './shape';
import { softmaxKernel } from './softmax';
import { layerNormKernel } from './layernorm';
import { lossesKernel } from './loss/losses';
import { broadcastKernelContracts } from './broadcast';
import { adamKernel, adamMultiKernel } from './adam';
import { clipKernel } from './clip';
import { matmulTiledKernels } from './matmul/tiled';
import { castKernel } from './cast';
import { ampKernel } from './amp';

export const kernelContracts: readonly KernelContract[] = [
  sgdKernel,
  sgdMultiKernel,
  ampMultiKernel,
  castKernel,
  ampKernel,
  crossEntropyKernel,
  reduceKernel,
  dropoutKernel,
  maxPoolKernel,
  maxPoolKernelF16,
  avgPoolKernel,
  elementwiseKernel,
  unaryKernel,
  fillKernelContract,
  ...unaryKernelContracts,
  ...binaryKernelContracts,
  batchnormKernel,
  batchnormKernelF16,
  bnFoldKernel,
  matmulPortableKernel,
  matmulPackKernel,
  matmulVec4Kernel,
  matmulSubgroupKernel,
  matmulSmatrixKernel,
  matmulSmatrixPackKernel,
  matmulSmatrixGatherKernel,
  im2colKernel,
  winograd2Kernel,
  winograd4Kernel,
  stridedKernel, gatherKernel,
  reduceDimsKernel,
  selectKernel,
  softmaxKernel, layerNormKernel, lossesKernel,
  ...broadcastKernelContracts,
  adamKernel, adamMultiKernel, clipKernel,
  ...matmulTiledKernels,
];
