/**
 * Every declared kernel contract, for test/kernel_contracts.test.ts (which checks each against its WGSL).
 * A family converted to `launch` adds its contracts here.
 */
import type { KernelContract } from './contract';
import { sgdKernel } from './sgd';

export const kernelContracts: readonly KernelContract[] = [sgdKernel];
