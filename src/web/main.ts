/** The browser entry: acquires the device and runs the smoke computation (the trainer page comes later). */
import { initGpu } from '../gpu/init';
import { smokeTest } from '../smoke';

const out = document.getElementById('log')!;
function log(line: string): void {
  out.textContent += line + '\n';
}

async function main(): Promise<void> {
  try {
    const rt = await initGpu();
    log(`adapter: ${rt.adapter.name} (${rt.adapter.description})`);
    const r = await smokeTest(rt);
    log(`smoke: GPU ${r.gpuSum.toFixed(4)} vs CPU ${r.cpuSum.toFixed(4)}, relative error ${r.relError.toExponential(2)}, gradient ${r.gradOk ? 'ok' : 'WRONG'}`);
    log(r.ok ? 'SMOKE OK' : 'SMOKE FAILED');
    document.body.dataset.smoke = r.ok ? 'ok' : 'failed';
  } catch (e) {
    log(`error: ${(e as Error).message}`);
    document.body.dataset.smoke = 'error';
  }
}

void main();
