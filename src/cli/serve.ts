/**
 * `node dist/serve.js [--port N] [--dir DIR]`: serves the training page (dist/web) on localhost, a
 * secure context where browsers offer WebGPU. A static file server on node:http, no dependency;
 * the browser test reuses `staticHandler`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
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

/** A request handler that serves the files under `root` (GET and HEAD; index.html for a folder). */
export function staticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const base = resolve(root);
  return (req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        return send(res, 400, 'bad request\n');
      }
      let file = resolve(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) return send(res, 403, 'forbidden\n');
      try {
        if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
        const body = await readFile(file);
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
