/** `node dist/train.js`: the main job. Until the trainer lands it prints the adapter and runs the smoke computation. */
import { initGpu } from '../gpu/init';
import { smokeTest } from '../smoke';
import { GpuError } from '../gpu/errors';

async function main(): Promise<number> {
  const rt = await initGpu();
  console.log(`adapter: ${rt.adapter.name} (${rt.adapter.description}) features: ${rt.adapter.features.join(', ') || 'none'}`);
  const r = await smokeTest(rt);
  console.log(
    `smoke: sum((a+b)*a) over ${r.n} values on the GPU = ${r.gpuSum.toFixed(4)}, float64 CPU = ${r.cpuSum.toFixed(4)}, ` +
      `relative error ${r.relError.toExponential(2)}, gradient ${r.gradOk ? 'ok' : 'WRONG'}, ${r.ms.toFixed(0)} ms`,
  );
  rt.destroy();
  return r.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof GpuError ? e.message : e);
    process.exit(1);
  },
);
