// The supervisor of the GPU CLIs (src/gpu/supervise.node.ts, also exported from 'webgpu-resnet/node'), as
// built: Dawn's start-up warnings reach the raw stderr on this adapter but not the supervised one; output, exit
// status and signals pass through; a supervisor killed with SIGKILL takes its child with it.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'supervise-'));
const node = resolve('dist/node.js');
const index = resolve('dist/index.js');

/** A script that starts the GPU (Dawn prints its warnings then) and behaves as told by its arguments. */
const script = join(dir, 'gpu.mjs');
writeFileSync(
  script,
  `import { superviseSelf } from ${JSON.stringify(node)};
import { initGpu } from ${JSON.stringify(index)};
import { writeFileSync } from 'node:fs';
if (!superviseSelf()) {
  const [mode, pidFile] = process.argv.slice(2);
  const rt = await initGpu();
  console.log('adapter ' + rt.adapter.name);
  process.stderr.write('progress 1/2\\rprogress 2/2\\n');
  process.stderr.write('tty ' + Boolean(process.stderr.isTTY) + '\\n');
  if (pidFile) writeFileSync(pidFile, String(process.pid));
  if (mode === 'chatty') {
    // Much more stdout than a closed pipe takes, then a file: the run went on to its end.
    for (let i = 0; i < 2000; i++) {
      console.log('line ' + i + ' ' + 'x'.repeat(200));
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    writeFileSync(pidFile, 'finished');
    rt.destroy();
    process.exit(0);
  } else if (mode === 'wait') {
    process.on('SIGTERM', () => { console.log('got SIGTERM'); rt.destroy(); process.exit(5); });
    setInterval(() => {}, 1000);
  } else {
    rt.destroy();
    process.exit(mode === 'fail' ? 3 : 0);
  }
}
`,
);

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const waitFor = async (p: () => boolean, ms = 60_000) => {
  for (let t = 0; t < ms && !p(); t += 50) await new Promise((r) => setTimeout(r, 50));
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(() => {
  if (!existsSync('dist/node.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

describe('the CLI supervisor', () => {
  it("drops Dawn's start-up warnings (which the raw stderr shows) and passes everything else", () => {
    const raw = run([], { WEBGPU_RESNET_RAW_STDERR: '1' });
    const sup = run([]);
    expect(raw.code, raw.err).toBe(0);
    expect(sup.code, sup.err).toBe(0);
    // On an adapter where Dawn prints nothing (e.g. NVIDIA's limits are within Dawn's) there is nothing to filter.
    if (/artificially reduced/.test(raw.err)) expect(raw.err).toMatch(/^Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced/m);
    expect(sup.err).not.toMatch(/artificially reduced/);
    expect(sup.err).toBe(raw.err.replace(/^Warning: maxDynamic\w+ artificially reduced[^\n]*\n/gm, ''));
    expect(sup.err).toContain('progress 1/2\rprogress 2/2\ntty false\n');
    expect(sup.out).toBe(raw.out);
    expect(sup.out).toMatch(/^adapter /);
  });

  it.each([[{}], [{ WEBGPU_RESNET_RAW_STDERR: '1' }]])('a closed stdout (… | head -1) is no stack trace, and the run goes on to its end (env %j)', (env) => {
    const marker = join(dir, `chatty-${Object.keys(env).length}`);
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${script}" chatty "${marker}" | head -1; echo "node exit \${PIPESTATUS[0]}" >&2`], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
    expect(r.stdout).toMatch(/^adapter .*\n$/);
    expect(r.stderr).toMatch(/node exit 0\n$/);
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(readFileSync(marker, 'utf8')).toBe('finished');
  });

  it("exits with the child's status", () => {
    expect(run(['fail']).code).toBe(3);
  });

  it('forwards SIGTERM once; a supervisor killed with SIGKILL takes the child with it', async () => {
    const pidFile = join(dir, 'child.pid');
    const p = spawn(process.execPath, [script, 'wait', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    await waitFor(() => existsSync(pidFile));
    p.kill('SIGTERM');
    const code = await new Promise((r) => p.on('close', r));
    expect(code).toBe(5);
    expect(out.match(/got SIGTERM/g)).toHaveLength(1);

    const pidFile2 = join(dir, 'child2.pid');
    const q = spawn(process.execPath, [script, 'wait', pidFile2], { stdio: 'ignore' });
    await waitFor(() => existsSync(pidFile2));
    const child = Number(readFileSync(pidFile2, 'utf8'));
    expect(child).not.toBe(q.pid);
    expect(alive(child)).toBe(true);
    q.kill('SIGKILL');
    await waitFor(() => !alive(child), 5000);
    expect(alive(child)).toBe(false);
  });
});
