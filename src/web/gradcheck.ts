/**
 * gradcheck.html: runs the gradient-check suite (gradcheck-cases.ts) on this browser's WebGPU adapter and
 * shows a table. The result is also published as `window.gradcheck` (read by test/dist/browser.test.ts):
 * { done, passed, adapter, checks, failed, skipped } where `skipped` lists kernels without any check.
 */
import { initGpu } from '../gpu/init';
import { GradCheckSuite, type CheckResult, skippedKernels } from './gradcheck-cases';

interface GradCheckReport {
  done: boolean;
  passed: boolean;
  adapter: string;
  seconds: number;
  checks: CheckResult[];
  failed: CheckResult[];
  skipped: string[];
  error?: string;
}

const report: GradCheckReport = { done: false, passed: false, adapter: '', seconds: 0, checks: [], failed: [], skipped: [] };
(window as unknown as { gradcheck: GradCheckReport }).gradcheck = report;

const status = document.getElementById('status')!;
const tbody = document.getElementById('checks')!;

function show(results: CheckResult[]): void {
  tbody.replaceChildren(
    ...results.map((r) => {
      const tr = document.createElement('tr');
      tr.className = r.ok ? 'ok' : 'fail';
      const cells = [r.ok ? 'pass' : 'FAIL', r.kernel, r.name, Number.isFinite(r.error) ? r.error.toExponential(2) : String(r.error), r.tol ? `≤ ${r.tol.toExponential(0)}` : '', r.message ?? ''];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function main(): Promise<void> {
  const t0 = performance.now();
  try {
    const rt = await initGpu();
    rt.poison = true; // every fresh output buffer is NaN-filled: an unwritten element fails its check
    report.adapter = rt.adapter.name;
    status.textContent = `running on ${rt.adapter.name}…`;
    const checks = await new GradCheckSuite(rt).runAll(show);
    report.checks = checks;
    report.failed = checks.filter((c) => !c.ok);
    report.skipped = skippedKernels(rt, checks);
    report.passed = report.failed.length === 0 && report.skipped.length === 0;
    show(checks);
  } catch (e) {
    report.error = (e as Error).message;
  }
  report.seconds = (performance.now() - t0) / 1000;
  report.done = true;
  document.body.dataset.done = report.passed ? 'passed' : 'failed';
  status.textContent = report.error
    ? `error: ${report.error}`
    : `${report.checks.length - report.failed.length} of ${report.checks.length} checks passed` +
      `${report.skipped.length ? `; kernels without a check: ${report.skipped.join(', ')}` : ''} on ${report.adapter} in ${report.seconds.toFixed(1)} s`;
}

void main();
