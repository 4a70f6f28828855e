/**
 * `node dist/gradcheck.js [--json FILE]`: the gradient-check suite of the browser page (src/web/gradcheck-cases.ts)
 * on this process's adapter (Dawn; WEBGPU_ADAPTER picks one). Prints each failed check and a summary line; exits
 * 0 when every check passed and every kernel family has one, 1 otherwise.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { superviseSelf } from '../gpu/supervise.node';
import { initGpu } from '../gpu/init';
import { GradCheckSuite, type CheckResult, kernelsNotOffered, skippedKernels } from '../web/gradcheck-cases';
import { subgroupLanes } from '../kernels/matmul';
import { SMATRIX_KERNEL } from '../web/gradcheck/smatrix';

const USAGE = `usage: node dist/gradcheck.js [--json FILE]

Runs the gradient-check page's suite in Node: every kernel's op, forward and backward, against the float64
references, on this adapter (WEBGPU_ADAPTER picks one by name).

  --json FILE           write { adapter, adapter_description, subgroup_lanes, seconds, checks, subgroup_kernel_checks,
                        smatrix_checks, not_offered, passed, failed, skipped }`;

/** What --json writes: the page's report, with the number of checks instead of the whole list. */
export interface GradCheckCliReport {
  adapter: string;
  adapter_description: string;
  /** The adapter's subgroup width where the subgroup matmul kernel runs (src/kernels/matmul/subgroup.ts), else null. */
  subgroup_lanes: number | null;
  seconds: number;
  /** Number of checks run. */
  checks: number;
  /** Checks that ran the subgroup matmul kernel: its own, and the implicit-GEMM convolutions'. */
  subgroup_kernel_checks: number;
  /** Checks of the subgroup-matrix kernel (0 where the adapter does not offer it). */
  smatrix_checks: number;
  /** Kernels this adapter does not offer (not checked, not skipped). */
  not_offered: string[];
  passed: boolean;
  failed: CheckResult[];
  /** Kernel families without any check. */
  skipped: string[];
}

async function main(): Promise<number> {
  let values: { json?: string; help?: boolean };
  try {
    values = parseArgs({ options: { json: { type: 'string' }, help: { type: 'boolean' } } }).values;
  } catch (e) {
    // One line (scripts/bench-gpu.sh reports a part's last line of stderr): the error, then the usage.
    console.error(`gradcheck: ${(e as Error).message} (${USAGE.split('\n')[0]})`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const t0 = performance.now();
  const rt = await initGpu();
  rt.poison = true; // every fresh output buffer is NaN-filled: an unwritten element fails its check
  console.log(`gradient checks on ${rt.adapter.name} (${rt.adapter.description})`);
  let groups = 0;
  const checks = await new GradCheckSuite(rt).runAll((r) => console.error(`group ${++groups}: ${r.length} checks so far`));
  const failed = checks.filter((c) => !c.ok);
  const skipped = skippedKernels(rt, checks);
  for (const f of failed) console.log(`FAIL ${f.kernel}: ${f.name}: error ${f.error} > ${f.tol}${f.message ? ` (${f.message})` : ''}`);
  const report: GradCheckCliReport = {
    adapter: rt.adapter.name,
    adapter_description: rt.adapter.description,
    subgroup_lanes: subgroupLanes(rt),
    seconds: (performance.now() - t0) / 1000,
    checks: checks.length,
    subgroup_kernel_checks: checks.filter((c) => c.name.includes("'subgroup'") || c.name.includes('(implicit')).length,
    smatrix_checks: checks.filter((c) => c.kernel === SMATRIX_KERNEL).length,
    not_offered: kernelsNotOffered(rt),
    passed: failed.length === 0 && skipped.length === 0,
    failed,
    skipped,
  };
  console.log(
    `${checks.length - failed.length} of ${checks.length} checks passed` +
      `${skipped.length ? `; kernels without a check: ${skipped.join(', ')}` : ''} in ${report.seconds.toFixed(1)} s`,
  );
  if (values.json) await writeFile(values.json, JSON.stringify(report, null, 2) + '\n');
  rt.destroy();
  return report.passed ? 0 : 1;
}

// Dawn's native start-up warnings are filtered by running under a supervisor (gpu/supervise.node.ts).
if (!superviseSelf()) {
  main().then(
    (c) => process.exit(c),
    (e) => {
      console.error(`error: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
