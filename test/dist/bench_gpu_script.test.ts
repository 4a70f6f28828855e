/**
 * scripts/bench-gpu.sh, the one-call GPU check, in its local mode (BENCH_GPU_LOCAL=1: this machine's node and
 * adapter, PyTorch on the CPU, ResNet-18 at 32 px): one JSON on stdout with every part's results, a failing part
 * recorded while the others run, the exit status; and tools/bench_gpu_report.py on an H100's files (made up
 * here: no GPU on this machine) for the figures against the fp32 peak and PyTorch.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
// The parity fixture is torchvision's resnet34.
const hasTorchvision = hasTorch && spawnSync(PYTHON, ['-c', 'import torchvision'], { stdio: 'ignore' }).status === 0;

function benchGpu(env: Record<string, string>) {
  const r = spawnSync('bash', ['scripts/bench-gpu.sh'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, BENCH_GPU_LOCAL: '1', PYTHON, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync('dist/gradcheck.js') || !existsSync('dist/bench.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
  if (!hasTorch) console.warn(`${PYTHON} cannot import torch: the PyTorch parts are expected to fail`);
});

describe('scripts/bench-gpu.sh (local mode)', () => {
  it('runs every part and prints one JSON on stdout (also written to $OUT/bench-gpu.json)', () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-gpu-'));
    const r = benchGpu({ OUT: out });
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out); // nothing else on stdout
    expect(JSON.parse(readFileSync(join(out, 'bench-gpu.json'), 'utf8'))).toEqual(j);
    expect(existsSync(join(out, 'bench-gpu-parts', 'gradcheck.json'))).toBe(true);
    expect(r.err).toMatch(/^bench-gpu: gradcheck \(at most \d+ s\): node dist\/gradcheck\.js/m);

    expect(j.mode).toBe('local');
    expect(j.adapter.name.length).toBeGreaterThan(0);
    expect(j.gpu.source).toBe('the WebGPU adapter'); // no nvidia-smi here
    expect(j.fp32_peak).toBeNull(); // no peak for a software adapter
    expect(Object.fromEntries(Object.entries(j.parts).map(([k, v]) => [k, (v as { status: string }).status]))).toEqual({
      gradcheck: 'ok', tune: 'ok', parity: hasTorchvision ? 'ok' : 'failed', kernels: 'ok', model: 'ok', torch: hasTorch ? 'ok' : 'failed', torch_kernels: hasTorch ? 'ok' : 'failed',
    });
    expect(j.gradcheck).toMatchObject({ status: 'ok', passed: true, failed: 0, skipped: [] });
    expect(j.gradcheck.checks).toBeGreaterThan(1000);
    // ResNet-34 against PyTorch on this adapter, with the tuned kernels (the fixture at 64 px here, 224 on a GPU).
    if (hasTorchvision) {
      expect(j.parity).toMatchObject({ status: 'ok', passed: true, batch: 2, size: 64, failures: [] });
      expect(j.parity.comparisons).toBeGreaterThan(10);
      expect(j.parity.worst.error).toBeLessThanOrEqual(j.parity.worst.tolerance);
      expect(r.err).toMatch(/^parity: every comparison within its tolerance$/m);
    }

    const rows = j.kernels.rows as { name: string; shape: string; ms: number; gflops?: number; gbps?: number; torch_ms?: number }[];
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) {
      expect(row.ms, row.name).toBeGreaterThan(0);
      expect(Number.isFinite(row.gflops ?? row.gbps), row.name).toBe(true);
    }
    if (hasTorch) expect(rows.find((x) => x.name === 'conv fwd layer1 3x3')?.torch_ms).toBeGreaterThan(0);
    // --quick: the largest square matmul is 512³ (4096³ on a GPU), every matmul kernel on it.
    expect(j.matmul_square.shape).toBe('512x512x512');
    expect(j.matmul_square.kernels).toHaveProperty('vec4');
    expect(j.matmul_square.best_gflops).toBe(Math.max(...(Object.values(j.matmul_square.kernels) as number[])));
    expect(j.matmul_square).not.toHaveProperty('percent_of_fp32_peak');

    expect(j.resnet.ours).toMatchObject({ arch: 'resnet18', batch: 2, img_size: 32 });
    expect(j.resnet.ours.train_images_per_second).toBeGreaterThan(0);
    if (hasTorch) {
      expect(j.resnet.same_settings).toBe(true);
      expect(j.resnet.train_ratio).toBeCloseTo(j.resnet.ours.train_images_per_second / j.resnet.torch.train_images_per_second, 6);
      expect(j.resnet.eval_ratio).toBeGreaterThan(0);
    }
    expect(j.tune.choices).toBeGreaterThan(10);
    expect(j.tune.picks[0]).toEqual({ site: expect.any(String), shape: expect.any(String), pick: expect.any(String), heuristic: expect.any(String), speedup: expect.any(Number) });
    expect(j.passed).toBe(true);
  });

  it('records a failing part and runs the next ones; a failed gradient check fails the run; the CUDA side says there is no GPU', () => {
    const r = benchGpu({ BENCH_GPU_PARTS: 'gradcheck,model,torch', BENCH_GPU_GRADCHECK_ARGS: '--no-such-flag', BENCH_GPU_TORCH_ARGS: '--device cuda' });
    expect(r.code, r.err).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.parts.gradcheck).toMatchObject({ status: 'failed', exit: 2, error: expect.stringContaining("Unknown option '--no-such-flag'") });
    expect(j.gradcheck).toMatchObject({ status: 'failed', passed: false });
    expect(j.parts.model.status).toBe('ok');
    expect(j.resnet.ours.train_images_per_second).toBeGreaterThan(0);
    expect(j.parts.torch.status).toBe('failed');
    expect(j.resnet.errors.torch).toMatch(hasTorch ? /sees no CUDA GPU/ : /torch/);
    for (const p of ['tune', 'parity', 'kernels', 'torch_kernels']) expect(j.parts[p].status).toBe('skipped');
    expect(j.passed).toBe(false);
  });

  it('exits 2 when no part ran', () => {
    const r = benchGpu({ BENCH_GPU_PARTS: 'none' });
    expect(r.code, r.err).toBe(2);
    expect(JSON.parse(r.out).passed).toBe(false);
  });
});

describe('tools/bench_gpu_report.py on an H100 run', () => {
  /** A work folder as bench-gpu.sh leaves it, with the figures given. */
  function work(gpu: string, best: number, parityError = 2e-5): string {
    const dir = mkdtempSync(join(tmpdir(), 'bench-gpu-report-'));
    const adapter = { adapter: 'nvidia / hopper / nvidia-h100', adapter_description: 'NVIDIA: 550.54.15' };
    const files: Record<string, unknown> = {
      'gradcheck.json': { ...adapter, seconds: 9, checks: 2854, passed: true, failed: [], skipped: [] },
      'kernels.json': { ...adapter, kernels: [
        { name: 'matmul square 1024', shape: '1024x1024x1024', ms: 0.2, gflops: 10737 },
        { name: 'matmul vec4', shape: '4096x4096x4096', ms: 40, gflops: 3436 },
        { name: 'matmul tiled-128x128x8-8x8', shape: '4096x4096x4096', ms: 10, gflops: best },
      ] },
      'model.json': { ...adapter, model: { arch: 'resnet34', batch: 32, img_size: 224, train_images_per_second: 600, eval_images_per_second: 2000 } },
      'torch.json': { adapter: 'PyTorch 2.5.1 CUDA fp32 (TF32 off), NVIDIA H100 80GB HBM3', model: { arch: 'resnet34', batch: 32, img_size: 224, train_images_per_second: 1000, eval_images_per_second: 3000 } },
      'torch_kernels.json': { adapter: 'PyTorch', kernels: [{ name: 'matmul vec4', shape: '4096x4096x4096', ms: 3, gflops: 45812 }] },
      'parity.json': { ...adapter, parity: { batch: 2, size: 224, pass: parityError <= 1e-4, rows: [
        { what: 'eval logits', error: parityError, tolerance: 1e-4, pass: parityError <= 1e-4 },
        { what: 'grad.conv1.weight (vs float64)', error: 3e-4, tolerance: 1e-3, pass: true },
      ] } },
    };
    for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v));
    writeFileSync(join(dir, 'parts.tsv'), ['gradcheck', 'tune', 'parity', 'kernels', 'model', 'torch', 'torch_kernels'].map((p) => `${p}\t${p === 'tune' ? 124 : p === 'parity' && parityError > 1e-4 ? 1 : 0}\t5\t60\n`).join(''));
    writeFileSync(join(dir, 'nvidia-smi.txt'), `${gpu}, 550.54.15\n`);
    writeFileSync(join(dir, 'runtime.txt'), 'mode=gpu\nseconds=300\n');
    return dir;
  }
  const report = (dir: string) => {
    const r = spawnSync(PYTHON, ['tools/bench_gpu_report.py', dir], { encoding: 'utf8' });
    return { code: r.status, j: JSON.parse(r.stdout), err: r.stderr };
  };

  it('the 4096³ matmul against the GPU\'s fp32 peak, the ResNet ratio, and a part that timed out', () => {
    const { code, j, err } = report(work('NVIDIA H100 80GB HBM3', 20100));
    expect(code, err).toBe(0);
    expect(j.gpu).toMatchObject({ name: 'NVIDIA H100 80GB HBM3', driver: '550.54.15', source: 'nvidia-smi' });
    expect(j.fp32_peak).toMatchObject({ tflops: 67, gpu: 'H100 SXM' });
    expect(j.matmul_square).toMatchObject({ shape: '4096x4096x4096', best_kernel: 'tiled-128x128x8-8x8', best_gflops: 20100, torch_gflops: 45812, meets_target: true });
    expect(j.matmul_square.percent_of_fp32_peak).toBeCloseTo(30, 6);
    expect(j.resnet).toMatchObject({ same_settings: true, train_ratio: 0.6, meets_target: true });
    expect(j.resnet.eval_ratio).toBeCloseTo(2 / 3, 6);
    expect(j.kernels.rows[1].torch_ms).toBe(3);
    expect(j.parts.tune).toMatchObject({ status: 'timed out', error: 'stopped after its limit of 60 s' });
    expect(j.parity).toMatchObject({ status: 'ok', passed: true, size: 224, comparisons: 2, failures: [] });
    expect(j.parity.worst.what).toBe('grad.conv1.weight (vs float64)'); // 0.3 of its tolerance, against 0.2
    expect(j.passed).toBe(true);
  });

  it('numbers off from PyTorch\'s fail the run, whatever the speed', () => {
    const { code, j } = report(work('NVIDIA H100 80GB HBM3', 20100, 3e-3));
    expect(code).toBe(1);
    expect(j.parity).toMatchObject({ status: 'failed', passed: false, failures: [{ what: 'eval logits', error: 3e-3 }] });
    expect(j.resnet.meets_target).toBe(true);
    expect(j.passed).toBe(false);
  });

  it.each([
    ['NVIDIA H200', 67, 'H200 SXM (as H100 SXM)'],
    ['NVIDIA H100 PCIe', 51, 'H100 PCIe'],
    ['NVIDIA H100 NVL', 60, 'H100 NVL'],
  ])('the fp32 peak of %s is %d TFLOP/s', (gpu, tflops, which) => {
    const { j } = report(work(gpu, 6000));
    expect(j.fp32_peak).toMatchObject({ tflops, gpu: which });
    expect(j.matmul_square.percent_of_fp32_peak).toBeCloseTo((100 * 6000) / (tflops * 1000), 6);
  });
});
