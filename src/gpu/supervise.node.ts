/**
 * Dawn's native code prints two lines at adapter start-up ("Warning: maxDynamicUniformBuffersPerPipelineLayout
 * artificially reduced …", and the same for storage buffers) straight to file descriptor 2, where no JavaScript
 * in the process can catch them. The GPU CLIs (train, predict, bench) therefore run as a child of a small
 * supervisor: `superviseSelf()` starts the same script again with the same arguments, passes its stderr through
 * a filter that drops exactly those lines, and exits as the child does. Everything else is passed on at once,
 * including a progress bar's partial lines.
 *
 * - stdin and stdout are inherited; stderr keeps its terminal behaviour (the child is told the stream is a
 *   terminal of the same width, and writes carriage-return progress bars as it would).
 * - Signals: a terminal's Ctrl-C reaches both processes; the child ignores the raw SIGINT and acts on the one the
 *   supervisor forwards, so one Ctrl-C is one SIGINT. SIGTERM and SIGHUP sent to the supervisor are forwarded.
 * - If the supervisor dies (kill -9), the child kills itself at once: it never runs on unseen.
 * - `WEBGPU_RESNET_RAW_STDERR=1` runs the CLI in one process, unfiltered.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Set in the child's environment to the supervisor's pid. */
const SUPERVISOR_ENV = 'WEBGPU_RESNET_SUPERVISOR';
/** Set in the child's environment when the supervisor's stderr is a terminal: its width. */
const COLUMNS_ENV = 'WEBGPU_RESNET_STDERR_COLUMNS';

/** The lines Dawn prints at start-up (dawn/native/Limits.cpp), matched whole. */
export const DAWN_STARTUP_WARNING = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;

const PREFIX = 'Warning: maxDynamic';

/**
 * A stream filter that drops DAWN_STARTUP_WARNING lines. Text is passed on as soon as it cannot be the start of
 * such a line: only a line that begins like one is held until its newline (or the end).
 */
export class DawnWarningFilter {
  private held = '';
  constructor(private readonly out: (s: string) => void) {}

  push(chunk: string): void {
    let text = this.held + chunk;
    this.held = '';
    let emit = '';
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      const line = text.slice(0, nl);
      // A line (after the last carriage return of a progress bar, if any) that is the warning is dropped.
      const cr = line.lastIndexOf('\r', line.length - 2);
      const tail = cr >= 0 ? line.slice(cr + 1) : line;
      emit += DAWN_STARTUP_WARNING.test(tail) ? line.slice(0, cr + 1) : `${line}\n`;
      text = text.slice(nl + 1);
    }
    // The unfinished last line: held only while it may still become a warning line.
    const cr = text.lastIndexOf('\r');
    const tail = text.slice(cr + 1);
    if (tail.length > 0 && (PREFIX.startsWith(tail) || tail.startsWith(PREFIX))) {
      emit += text.slice(0, cr + 1);
      this.held = tail;
    } else {
      emit += text;
    }
    if (emit) this.out(emit);
  }

  /** At the end of the stream: pass on what is held (an unfinished line is not a whole warning line). */
  end(): void {
    if (this.held && !DAWN_STARTUP_WARNING.test(this.held)) this.out(this.held);
    this.held = '';
  }
}

/** The supervisor's pid when this process runs under one, else null. */
export function supervisorPid(): number | null {
  const pid = Number(process.env[SUPERVISOR_ENV]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Call first thing in a GPU CLI. In the supervisor it starts the child and returns true: the caller does nothing
 * more (the process exits with the child's status). In the child, or when supervision is off, it returns false
 * and the caller runs the CLI.
 */
export function superviseSelf(): boolean {
  tolerateClosedStdout();
  if (supervisorPid() !== null) {
    childSide();
    return false;
  }
  if (process.env.WEBGPU_RESNET_RAW_STDERR === '1' || !process.argv[1]) return false;

  const env: NodeJS.ProcessEnv = { ...process.env, [SUPERVISOR_ENV]: String(process.pid) };
  if (process.stderr.isTTY) env[COLUMNS_ENV] = String(process.stderr.columns || 80);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    env,
  });
  const filter = new DawnWarningFilter((s) => process.stderr.write(s));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => filter.push(s));
  child.stderr!.on('end', () => filter.end());
  for (const sig of FORWARDED) {
    process.on(sig, () => {
      if (child.connected) child.send({ signal: sig }, () => undefined);
      else child.kill(sig);
    });
  }
  child.on('error', (e) => {
    process.stderr.write(`error: cannot start ${process.argv[1]}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    if (signal) {
      // Die as the child did (the shell then reports it the same way), or exit as a shell would.
      for (const s of FORWARDED) process.removeAllListeners(s);
      process.kill(process.pid, signal);
      setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100).unref();
    } else {
      process.exit(code ?? 1);
    }
  });
  return true;
}

/**
 * A closed stdout (the reader of a pipe gone: `node dist/train.js | head`) makes Node report EPIPE on the next
 * write, as an uncaught error with a stack trace that ends the run. Instead, the run goes on without its stdout:
 * its files (checkpoints, reports, the JSON) are still written, and nothing is lost.
 */
function tolerateClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.stdout.write = (() => true) as typeof process.stdout.write;
  });
}

/** The child's side: a terminal stderr as the supervisor's, forwarded signals, and no life after the supervisor. */
function childSide(): void {
  const columns = Number(process.env[COLUMNS_ENV]);
  if (columns > 0) {
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    Object.defineProperty(process.stderr, 'columns', { value: columns, configurable: true });
  }
  // A terminal's Ctrl-C reaches this process too: act only on the copy the supervisor forwards.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  process.on('message', (m: unknown) => {
    const sig = (m as { signal?: string } | null)?.signal;
    if (!sig || !(FORWARDED as readonly string[]).includes(sig)) return;
    const own = process.listeners(sig as NodeJS.Signals).filter((l) => l !== ignore);
    if (own.length) for (const l of own) (l as (s: string) => void)(sig);
    else process.exit(128 + (constants.signals[sig as NodeJS.Signals] ?? 0));
  });
  // The supervisor is gone (killed): so is this run, as if killed with it (no exit handlers run). Its stderr
  // pipe may report the loss first (EPIPE), which would otherwise end the process as an uncaught error.
  const die = () => process.kill(process.pid, 'SIGKILL');
  process.on('disconnect', die);
  process.stderr.on('error', die);
  (process.channel as { unref?: () => void } | undefined)?.unref?.();
}
