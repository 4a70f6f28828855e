// The stderr filter of the CLI supervisor (src/gpu/supervise.node.ts): Dawn's two start-up lines are dropped
// whole, wherever the chunks split them; everything else passes, at once unless it may begin such a line.
import { describe, it, expect } from 'vitest';
import { DawnWarningFilter } from '../src/gpu/supervise.node';

const W1 = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
const W2 = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 500000 to 16 to fit dynamic offset allocation limit.\n';

function filtered(chunks: string[]): { out: string; writes: string[] } {
  const writes: string[] = [];
  const f = new DawnWarningFilter((s) => writes.push(s));
  for (const c of chunks) f.push(c);
  f.end();
  return { out: writes.join(''), writes };
}

describe('DawnWarningFilter', () => {
  const text = `before\n${W1}${W2}epoch 1/3 ██░░ 1/4\repoch 1/3 ████ 2/4\rWarning: something else\nafter`;
  const want = 'before\nepoch 1/3 ██░░ 1/4\repoch 1/3 ████ 2/4\rWarning: something else\nafter';

  it('drops exactly the two warning lines, at every split point', () => {
    expect(filtered([text]).out).toBe(want);
    for (let i = 0; i <= text.length; i++) expect(filtered([text.slice(0, i), text.slice(i)]).out, `split at ${i}`).toBe(want);
    expect(filtered([...text]).out).toBe(want);
  });

  it('keeps CRLF warnings out too, and lines that only resemble them', () => {
    expect(filtered([W1.replace('\n', '\r\n')]).out).toBe('');
    const near = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced to nothing\n';
    expect(filtered([near]).out).toBe(near);
  });

  it('passes a progress bar at once: nothing is held unless it may start a warning line', () => {
    const { writes } = filtered(['epoch 1/3 ██░░ 1/4']);
    expect(writes).toEqual(['epoch 1/3 ██░░ 1/4']);
    const held: string[] = [];
    const f = new DawnWarningFilter((s) => held.push(s));
    f.push('x\rWarn');
    expect(held).toEqual(['x\r']);
    f.push('ing: maxDynamic');
    expect(held).toEqual(['x\r']);
    f.push('Uniform… not the line\n');
    expect(held.join('')).toBe('x\rWarning: maxDynamicUniform… not the line\n');
  });

  it('an unfinished warning-like line at the end is passed on', () => {
    expect(filtered(['Warning: maxDynamicUni']).out).toBe('Warning: maxDynamicUni');
  });
});
