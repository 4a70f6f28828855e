/**
 * `node dist/serve.js [--port N] [--dir DIR]`: serves the training page (dist/web) on localhost, a
 * secure context where browsers offer WebGPU. A static file server on node:http, no dependency;
 * the browser test reuses `staticHandler`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, realpath, stat } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.pth': 'application/octet-stream',
};

/** Host names this server answers to; any other Host header is refused (DNS rebinding). */
const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Is `host` (the Host header) one of LOCAL_HOSTS with this server's port? A page on another site whose
 * name has been re-pointed at 127.0.0.1 (DNS rebinding) sends its own name here, and is refused.
 */
export function isLocalHost(host: string | undefined, port: number): boolean {
  if (!host) return false;
  const h = host.toLowerCase();
  return LOCAL_HOSTS.some((name) => h === `${name}:${port}` || (port === 80 && h === name));
}

/**
 * A request handler that serves the files under `root` (GET and HEAD; index.html for a folder), only to
 * requests addressed to localhost, and only files whose real path (symbolic links resolved) lies inside
 * the real path of `root`.
 */
export function staticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const base = resolve(root);
  let realBase: Promise<string> | null = null;
  return (req, res) => {
    void (async () => {
      const port = req.socket.localPort ?? 0;
      if (!isLocalHost(req.headers.host, port)) {
        const shown = req.headers.host === undefined ? 'no Host header' : `Host ${JSON.stringify(req.headers.host)}`;
        return send(
          res,
          421,
          `misdirected request: ${shown}. serve.js answers only requests to http://localhost:${port}/ ` +
            `(or 127.0.0.1, [::1]); other names are refused to block DNS rebinding. Open http://localhost:${port}/ instead.\n`,
        );
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        return send(res, 400, 'bad request\n');
      }
      let file = resolve(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) return send(res, 403, 'forbidden\n');
      let real: string;
      try {
        if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
        real = await realpath(file);
      } catch {
        return send(res, 404, `not found: ${path}\n`);
      }
      const inside = await (realBase ??= realpath(base)).then((b) => real === b || real.startsWith(b.endsWith(sep) ? b : b + sep), () => false);
      if (!inside) return send(res, 403, `forbidden: ${path} is a symbolic link to a file outside the served folder\n`);
      try {
        const body = await readFile(real);
        res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch {
        send(res, 404, `not found: ${path}\n`);
      }
    })();
  };
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}

/** Listen on 127.0.0.1:`port` (0 picks a free port); resolves with the server and its URL. */
export function serveStatic(root: string, port: number): Promise<{ server: Server; url: string }> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer(staticHandler(root));
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      resolvePromise({ server, url: `http://localhost:${p}/` });
    });
  });
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { port: { type: 'string', default: '8080' }, dir: { type: 'string' }, help: { type: 'boolean' } }, strict: true }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\nusage: node dist/serve.js [--port N] [--dir DIR]`);
    return 2;
  }
  if (values.help) {
    console.log('usage: node dist/serve.js [--port N] [--dir DIR]\n\nServes the training page (default dir: dist/web beside this script) on http://localhost:N/ (default 8080).');
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`error: --port must be an integer from 0 to 65535, got '${values.port}'`);
    return 2;
  }
  const dir = values.dir ?? join(dirname(fileURLToPath(import.meta.url)), 'web');
  try {
    await stat(join(dir, 'index.html'));
  } catch {
    console.error(`error: ${join(dir, 'index.html')} not found: run \`npm run build\` first`);
    return 1;
  }
  try {
    const { url } = await serveStatic(dir, port);
    console.log(`serving ${dir} at ${url}\nopen it in a browser with WebGPU (Chrome/Edge 113+, Firefox 141+, Safari 26+); Ctrl-C stops`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    console.error(`error: cannot listen on port ${port}${code === 'EADDRINUSE' ? ': it is in use; pick another with --port' : ` (${(e as Error).message})`}`);
    return 1;
  }
  return -1; // keep serving
}

/** Run only when executed (node dist/serve.js), not when imported by a test. */
function isMain(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  });
}
