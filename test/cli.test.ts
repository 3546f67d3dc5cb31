// The command line: usage errors exit 64, bad values 78, each message naming
// the flag or variable at fault, as a JSON log line like every other; --help
// (which proves the table's defaults and choices are what the parser does)
// and --version; install.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { envNameOf, OPTIONS, type OptionSpec } from '../src/config/options.ts';
import { parseCommandLine } from '../src/config/parse-command-line.ts';
import { KEYSTORE_VARIABLES } from '../src/config/keystore-env.ts';
import { EXECUTABLE, tempDir } from './helpers/manager.ts';

function run(args: string[], env: Record<string, string> = {}, executable = EXECUTABLE) {
  return spawnSync(executable, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 30_000 });
}

/** The one line a failed start writes: JSON on stdout, nothing on stderr. */
function fatalLine(result: { stdout: string; stderr: string }): { message: string; [field: string]: unknown } {
  const lines = result.stdout.trim().split('\n');
  const records = lines.map((line) => JSON.parse(line));
  const fatal = records.find((r) => r['event.action'] === 'startup-error');
  if (!fatal) throw new Error(`no startup-error line in: ${result.stdout}${result.stderr}`);
  return fatal;
}

const USAGE_CASES: [string, string[], Record<string, string>, RegExp][] = [
  ['unknown flag', ['--cmd', '/bin/true', '--frobnicate', '1'], {}, /unknown option '--frobnicate'/],
  ['missing --cmd', [], {}, /no process to supervise: give --cmd PATH or PM_CMD/],
  ['flag without a value', ['--cmd'], {}, /option --cmd needs a value \(PATH\)/],
  [
    'stray argument',
    ['--cmd', '/bin/true', 'extra'],
    {},
    /unexpected argument 'extra'; arguments for the process go after '--'/,
  ],
  ['install without a directory', ['install'], {}, /install takes exactly one argument/],
];
for (const [what, args, env, message] of USAGE_CASES) {
  t.test(`${what} is a usage error: exit 64`, async (t) => {
    const result = run(args, env);
    t.equal(result.status, 64);
    const line = fatalLine(result);
    t.match(line, { 'log.level': 'error', 'process.exit_code': 64 });
    t.match(line.message, message);
    t.equal(result.stderr, '', 'nothing in plain text');
  });
}

const CONFIG_CASES: [string, string[], Record<string, string>, RegExp][] = [
  [
    'bad duration flag',
    ['--cmd', '/bin/true', '--stop-timeout', 'soon'],
    {},
    /--stop-timeout: 'soon' is not a duration such as 500ms, 5s, 2m, 1h, 2m30s or a number of seconds/,
  ],
  // issue 13: past 2^31-1 ms Node's timer fires after 1 ms, so the stop SIGKILLed at once.
  [
    'a duration no timer holds',
    ['--cmd', '/bin/true', '--stop-timeout', '40000m'],
    {},
    /--stop-timeout: '40000m' is not a duration a timer can hold: at most 2147483647ms \(about 24.8 days\)/,
  ],
  [
    'a duration no timer holds, in hours',
    ['--cmd', '/bin/true'],
    { PM_SHUTDOWN_TIMEOUT: '597h' },
    /PM_SHUTDOWN_TIMEOUT: '597h' is not a duration a timer can hold/,
  ],
  [
    'a compound duration with a stray part',
    ['--cmd', '/bin/true', '--stop-timeout', '2m30'],
    {},
    /--stop-timeout: '2m30' is not a duration/,
  ],
  [
    'bad duration variable',
    ['--cmd', '/bin/true'],
    { PM_SHUTDOWN_TIMEOUT: '5 minutes' },
    /PM_SHUTDOWN_TIMEOUT: '5 minutes' is not a duration/,
  ],
  [
    'port out of range',
    ['--cmd', '/bin/true', '--http-port', '70000'],
    {},
    /--http-port: '70000' is not a TCP port number from 0 to 65535/,
  ],
  [
    'port not a number',
    ['--cmd', '/bin/true'],
    { PM_HTTP_PORT: 'http' },
    /PM_HTTP_PORT: 'http' is not a TCP port number/,
  ],
  [
    'bad choice',
    ['--cmd', '/bin/true', '--stop-scope', 'session'],
    {},
    /--stop-scope: 'session' is not one of process, group/,
  ],
  ['reserved name', ['--cmd', '/bin/true', '--name', 'health'], {}, /--name: 'health' must be/],
  [
    'TLS key without certificate',
    ['--cmd', '/bin/true', '--tls-key', '/k.pem'],
    {},
    /--tls-key is set but --tls-cert is not/,
  ],
  [
    'bad keystore switch',
    ['--cmd', '/bin/true'],
    { KEYSTORE_UPDATER: 'maybe' },
    /KEYSTORE_UPDATER: 'maybe' is not one of auto, true, false/,
  ],
  [
    'endpoint without a scheme',
    ['--cmd', '/bin/true'],
    { ENDPOINT: 'es-node:9200' },
    /ENDPOINT: 'es-node:9200' is not an http:\/\/ or https:\/\/ URL/,
  ],
  [
    'endpoint that is no URL',
    ['--cmd', '/bin/true'],
    { ENDPOINT: 'https://[::1:9200' },
    /ENDPOINT: 'https:\/\/\[::1:9200' is not an http:\/\/ or https:\/\/ URL/,
  ],
  [
    'a signal with a meaning of its own',
    ['--cmd', '/bin/true', '--forward-signals', 'QUIT,TERM'],
    {},
    /--forward-signals: 'QUIT,TERM' is not a list of signals to pass on: SIGTERM has its own meaning for the manager/,
  ],
  [
    'a signal that cannot be caught',
    ['--cmd', '/bin/true'],
    { PM_FORWARD_SIGNALS: 'KILL' },
    /PM_FORWARD_SIGNALS: 'KILL' is not a list of signals to pass on: SIGKILL cannot be caught/,
  ],
  [
    'SIGUSR1, which never reaches the manager',
    ['--cmd', '/bin/true', '--forward-signals', 'usr1'],
    {},
    /SIGUSR1 never reaches the manager: its runtime runs with --disable-sigusr1/,
  ],
  ['SIGCHLD', ['--cmd', '/bin/true', '--forward-signals', 'SIGCHLD'], {}, /SIGCHLD is the runtime's own/],
  [
    'HUP',
    ['--cmd', '/bin/true', '--forward-signals', 'HUP'],
    {},
    /SIGHUP has its own meaning for the manager \(reload the TLS material\)/,
  ],
  [
    'not a signal',
    ['--cmd', '/bin/true', '--forward-signals', 'QUIT,BANANA'],
    {},
    /--forward-signals: 'QUIT,BANANA' is not a list of signal names: BANANA is not one/,
  ],
  [
    'bad reload switch',
    ['--cmd', '/bin/true'],
    { KEYSTORE_RELOAD_CREDENTIALS: 'yes please' },
    /KEYSTORE_RELOAD_CREDENTIALS: 'yes please' is not true or false/,
  ],
];
for (const [what, args, env, message] of CONFIG_CASES) {
  t.test(`${what} is a configuration error: exit 78`, async (t) => {
    const result = run(args, env);
    t.equal(result.status, 78);
    t.match(fatalLine(result).message, message);
    t.equal(result.stderr, '', 'nothing in plain text');
  });
}

t.test('the flag wins over its variable', async (t) => {
  const result = run(['--cmd', '/bin/true', '--stop-timeout', 'bad-flag'], { PM_STOP_TIMEOUT: '5s' });
  t.match(fatalLine(result).message, /--stop-timeout: 'bad-flag'/, 'the flag was read, not PM_STOP_TIMEOUT');
});

t.test('a port already taken is a configuration error that names the flags', async (t) => {
  const net = await import('node:net');
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  t.teardown(() => server.close());
  const result = run([
    '--cmd',
    '/bin/sleep',
    '--http-port',
    String(port),
    '--state-file',
    path.join(tempDir(), 's.json'),
    '--',
    '1',
  ]);
  t.equal(result.status, 78);
  t.match(fatalLine(result).message, new RegExp(`--http-port ${port}: cannot listen: .*EADDRINUSE`));
  t.equal(result.stderr, '', 'the line that says why the container died is JSON, on stdout');
});

t.test('--help lists exactly the options and variables that exist', async (t) => {
  const result = run(['--help']);
  t.equal(result.status, 0);
  const listedFlags = [...result.stdout.matchAll(/^ {2}(--[a-z-]+) /gm)].map((m) => m[1]).sort();
  t.same(
    listedFlags,
    Object.values(OPTIONS)
      .map((o) => o.flag)
      .sort(),
    'every flag, and no other',
  );
  for (const option of Object.values(OPTIONS)) t.match(result.stdout, `env ${envNameOf(option)}`);
  for (const variable of Object.values(KEYSTORE_VARIABLES)) t.match(result.stdout, variable.name);
  t.equal(run(['-h']).stdout, result.stdout, '-h is --help');
});

t.test('--help shows the defaults and choices the parser applies', async (t) => {
  const help = run(['--help']).stdout;
  const parse = (argv: string[], env: Record<string, string> = {}) => {
    const command = parseCommandLine(['--cmd', '/bin/true', ...argv], env, '/opt/pm/process-manager');
    if (command.kind !== 'run') throw new Error(`not a run: ${command.kind}`);
    return command.config as unknown as Record<string, unknown>;
  };
  const defaults = parse([]);
  // Where each option lands in the configuration, for the options with a default of their own.
  const field: Record<string, (config: Record<string, any>) => unknown> = {
    name: (c) => c.name,
    stopTimeout: (c) => c.stopTimeoutMs,
    shutdownTimeout: (c) => c.shutdownTimeoutMs,
    stopScope: (c) => c.stopScope,
    onExit: (c) => c.onExit,
    httpPort: (c) => c.httpPort,
    logLevel: (c) => c.logLevel,
    readyCheck: (c) => c.readyCheck,
    readyTimeout: (c) => c.readyTimeoutMs,
    drainDelay: (c) => c.drainDelayMs,
  };
  for (const [option, spec] of Object.entries(OPTIONS) as [string, OptionSpec][]) {
    const line = help.split('\n').find((l) => l.startsWith(`  ${spec.flag} `)) ?? '';
    if (spec.defaultValue !== undefined && field[option]) {
      t.match(line, `(default: ${spec.defaultValue})`, `${spec.flag}: --help shows its default`);
      t.same(
        field[option](defaults),
        field[option](parse([spec.flag, spec.defaultValue])),
        `${spec.flag}: nothing given means the default shown`,
      );
    }
    for (const choice of spec.choices ?? []) {
      t.match(line, choice, `${spec.flag}: --help lists ${choice}`);
      t.doesNotThrow(() => parse([spec.flag, choice]), `${spec.flag} ${choice} is accepted`);
      t.doesNotThrow(() => parse([], { [envNameOf(spec)]: choice }), `${envNameOf(spec)}=${choice} is accepted`);
    }
    if (spec.choices)
      t.throws(
        () => parse([spec.flag, 'none-of-these']),
        { exitCode: 78 } as unknown as Error,
        `${spec.flag}: anything else is refused`,
      );
  }
  t.match(
    defaults,
    { stateFile: '/opt/pm/es.state.json', socketPath: '/opt/pm/es.sock', httpHost: '127.0.0.1' },
    'the computed defaults are the ones described',
  );
  t.match(
    parse(['--state-file', '/data/x/s.json', '--name', 'n1']),
    { socketPath: '/data/x/n1.sock' },
    'the socket sits beside the state file',
  );
});

t.test('durations: units, compounds, plain seconds', async (t) => {
  const stopTimeout = (text: string) => {
    const command = parseCommandLine(['--cmd', '/bin/true', '--stop-timeout', text], {}, '/pm');
    return command.kind === 'run' ? command.config.stopTimeoutMs : undefined;
  };
  const cases: [string, number][] = [
    ['500ms', 500],
    ['5s', 5_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['2m30s', 150_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5', 1_500],
    ['0', 0],
    ['596h', 2_145_600_000],
  ];
  for (const [text, ms] of cases) t.equal(stopTimeout(text), ms, `${text} = ${ms} ms`);
  for (const text of ['', '5 s', 's', '1h-2m', '1d', '-1s'])
    t.throws(() => stopTimeout(text), { exitCode: 78 } as unknown as Error, `'${text}' is refused`);
});

t.test('readiness, drain and configuration options: forms, lists, refusals, the grace-period warning', async (t) => {
  const parse = (argv: string[], env: Record<string, string> = {}) =>
    parseCommandLine(['--cmd', '/bin/true', ...argv], env, '/pm');
  const config = (argv: string[], env: Record<string, string> = {}) => {
    const command = parse(argv, env);
    if (command.kind !== 'run') throw new Error(`not a run: ${command.kind}`);
    return command;
  };
  t.same(config([]).config.readyCheck, { kind: 'http' });
  t.same(config(['--ready-check', 'tcp:9399']).config.readyCheck, { kind: 'tcp', port: 9399 });
  t.same(config(['--ready-check', 'none']).config.readyCheck, { kind: 'none' });
  for (const wrong of ['tcp', 'tcp:0', 'tcp:70000', 'tcp:x', 'https', 'TCP:9399']) {
    t.throws(
      () => parse(['--ready-check', wrong]),
      { exitCode: 78, message: /--ready-check: .* is not http, none or tcp:PORT/ } as unknown as Error,
      `--ready-check ${wrong} refused`,
    );
  }
  t.throws(() => parse(['--ready-timeout', '0']), { exitCode: 78 } as unknown as Error, 'a check needs time');

  t.same(config([]).config.configPaths, [], 'no --config-path: none');
  t.same(
    config(['--config-path', '/a', '--config-path', 'rel/b']).config.configPaths,
    ['/a', path.resolve('rel/b')],
    'repeatable, in order, made absolute',
  );
  t.same(
    config([], { PM_CONFIG_PATH: '/a:/b/c' }).config.configPaths,
    ['/a', '/b/c'],
    'the variable is a colon-separated list',
  );
  t.same(
    config(['--config-path', '/x:y'], { PM_CONFIG_PATH: '/a' }).config.configPaths,
    ['/x:y'],
    'a flag is one path, colon included, and wins',
  );
  t.throws(
    () => parse([], { PM_CONFIG_PATH: '/a::/b' }),
    { exitCode: 78 } as unknown as Error,
    'an empty path in the list',
  );

  t.same(
    config(['--drain-delay', '5s', '--shutdown-timeout', '20s']).warnings,
    [],
    '5 s + 20 s leaves 5 s of 30 (the Pod in README): no warning',
  );
  t.same(config([]).warnings, [], 'no drain, the default 25 s shutdown: no warning');
  const warned = config(['--drain-delay', '10s']).warnings;
  t.equal(warned.length, 1);
  t.match(warned[0], /--drain-delay 10s \+ --shutdown-timeout 25s .* terminationGracePeriodSeconds to at least 40/);
  t.same(config(['--drain-delay', '10s', '--shutdown-timeout', '15s']).warnings, [], 'shorter shutdown: no warning');
});

t.test('ctl --config and config-checksum on the command line', async (t) => {
  const parse = (argv: string[]) => parseCommandLine(argv, {}, '/pm');
  t.match(parse(['ctl', 'start', '--config', 'abc']), { kind: 'ctl', request: { action: 'start', configSha: 'abc' } });
  t.match(parse(['ctl', '--config=abc', 'restart']), { kind: 'ctl', request: { action: 'restart', configSha: 'abc' } });
  t.throws(() => parse(['ctl', 'stop', '--config', 'abc']), { exitCode: 64 } as unknown as Error);
  t.throws(() => parse(['ctl', 'start', '--config']), { exitCode: 64 } as unknown as Error);
  t.match(parse(['config-checksum', 'a', '/b']), { kind: 'config-checksum', paths: [path.resolve('a'), '/b'] });
  t.throws(() => parse(['config-checksum']), { exitCode: 64 } as unknown as Error);
});

t.test('ctl wait, signal and --help on the command line', async (t) => {
  const parse = (argv: string[]) => parseCommandLine(argv, {}, '/pm');
  t.match(
    parse(['ctl', 'wait', 'ready']),
    { kind: 'ctl', request: { action: 'wait', wait: { target: 'ready', timeoutMs: 300_000 } } },
    'default: 5 minutes',
  );
  t.match(parse(['ctl', 'wait', '--timeout=2m30s', 'stopped']), {
    kind: 'ctl',
    request: { wait: { target: 'stopped', timeoutMs: 150_000 } },
  });
  t.match(parse(['ctl', 'wait', 'started', '--timeout', '500ms']), {
    kind: 'ctl',
    request: { wait: { target: 'started', timeoutMs: 500 } },
  });
  t.throws(() => parse(['ctl', 'wait', 'started', '--timeout']), { exitCode: 64 } as unknown as Error);
  t.throws(() => parse(['ctl', 'wait', 'started', 'ready']), { exitCode: 64 } as unknown as Error);
  t.match(
    parse(['ctl', 'signal', 'sigQuit']),
    { kind: 'ctl', request: { action: 'signal', signal: 'sigQuit' } },
    'the name goes to the manager as given',
  );
  t.same(parse(['ctl', '--help']), { kind: 'ctl-help', action: undefined });
  t.same(
    parse(['ctl', 'wait', '-h']),
    { kind: 'ctl-help', action: 'wait' },
    'the help of a command, even without its argument',
  );
  t.same(
    parse(['ctl', 'frobnicate', '--help']),
    { kind: 'ctl-help', action: undefined },
    'an unknown command asking for help gets the list',
  );
});

t.test('a PM_ variable that no option reads is reported, with the likely one', async (t) => {
  const dir = tempDir();
  const result = run(
    ['--cmd', '/bin/sh', '--http-port', '0', '--state-file', path.join(dir, 's.json'), '--', '-c', 'exit 0'],
    { PM_SHUTDOWN_TIMOUT: '5s', PM_FROBNICATE: '1', PM_HELPER_GRACE_MS: '500' },
  );
  t.equal(result.status, 0, result.stdout);
  const warnings = result.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((r) => r['event.action'] === 'config-warning');
  t.match(warnings, [
    { 'log.level': 'warn', message: 'PM_FROBNICATE is set but no option reads it (see --help)' },
    {
      'log.level': 'warn',
      message: 'PM_SHUTDOWN_TIMOUT is set but no option reads it; did you mean PM_SHUTDOWN_TIMEOUT? (see --help)',
    },
  ]);
  t.equal(warnings.length, 2, "the helper's PM_HELPER_GRACE_MS and the manager's own markers are not reported");
});

t.test('--version', async (t) => {
  const result = run(['--version']);
  t.equal(result.status, 0);
  const version = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  t.equal(result.stdout, `process-manager ${version}\n`);
  // The baked V8 flags change V8's flag hash: a blob made without them would carry a code cache V8 throws away.
  t.equal(result.stderr, '', 'no warning, the code cache among them, is printed');
});

t.test(
  'install lays down the PID-1 helper as the entry point and the runtime beside it, both 0755, and the entry point runs',
  async (t) => {
    const dir = path.join(tempDir(), 'shared', 'pm');
    fs.mkdirSync(dir, { recursive: true }); // the volume's mount point: install refuses to make it
    const result = run(['install', dir]);
    t.equal(result.status, 0, result.stderr);
    const entryPoint = path.join(dir, 'process-manager');
    const runtime = path.join(dir, '.process-manager-runtime');
    t.same(
      fs.readdirSync(dir).sort(),
      ['.process-manager-runtime', 'process-manager'],
      'the two files, and no temporary file left behind',
    );
    t.equal(fs.statSync(entryPoint).mode & 0o777, 0o755);
    t.equal(fs.statSync(runtime).mode & 0o777, 0o755);
    t.ok(
      fs.readFileSync(entryPoint).equals(fs.readFileSync(path.join(path.dirname(EXECUTABLE), 'pm-helper'))),
      'the entry point is the compiled helper',
    );
    t.ok(fs.readFileSync(runtime).equals(fs.readFileSync(EXECUTABLE)), 'the runtime is this executable, byte for byte');
    t.equal(run(['--version'], {}, entryPoint).stdout, run(['--version']).stdout, '--version through the entry point');
    const ran = run(['--cmd', '/bin/sh', '--http-port', '0', '--', '-c', 'exit 7'], {}, entryPoint);
    t.equal(ran.status, 7, 'the entry point supervises a process and exits with its status');
    t.ok(fs.existsSync(path.join(dir, 'es.state.json')), 'its state file defaults to its own directory');

    const again = run(['install', dir], {}, entryPoint);
    t.equal(again.status, 0, `installing again, from the installed copy, replaces both files (${again.stderr})`);
    t.same(fs.readdirSync(dir).sort(), ['.process-manager-runtime', 'es.state.json', 'process-manager']);
    t.ok(fs.readFileSync(runtime).equals(fs.readFileSync(EXECUTABLE)), 'the runtime is still whole');
  },
);

t.test('install into a path that cannot be a directory: exit 78', async (t) => {
  const file = path.join(tempDir(), 'a-file');
  fs.writeFileSync(file, '');
  for (const target of [file, path.join(file, 'sub')]) {
    const result = run(['install', target]);
    t.equal(result.status, 78);
    t.match(
      fatalLine(result).message,
      /install .*a-file(\/sub)?: (not a directory|no such directory); give the mount point/,
    );
  }
});

t.test('issue 21: install into a directory that does not exist refuses (78) and creates nothing', async (t) => {
  const parent = tempDir();
  const missing = path.join(parent, 'mnt', 'pm');
  const result = run(['install', missing]);
  t.equal(result.status, 78);
  t.match(
    fatalLine(result).message,
    /install .*\/mnt\/pm: no such directory; give the mount point of the volume shared/,
  );
  t.same(fs.readdirSync(parent), [], 'no directory was made');
});

t.test(
  'issue 21: install, run as root, gives DIR to the user ES runs as (1000:0 unless --owner says otherwise)',
  async (t) => {
    const cases: [string[], { uid: number; gid: number; mode: number } | 'unchanged'][] = [
      [[], { uid: 1000, gid: 0, mode: 0o775 }],
      [['--owner', '1234:56'], { uid: 1234, gid: 56, mode: 0o775 }],
      [['--owner=4321'], { uid: 4321, gid: 4321, mode: 0o775 }],
      [['--owner', 'none'], 'unchanged'],
    ];
    for (const [extra, wanted] of cases) {
      const dir = path.join(tempDir(), 'pm');
      fs.mkdirSync(dir, { mode: 0o700 });
      const before = fs.statSync(dir);
      const result = run(['install', dir, ...extra]);
      t.equal(result.status, 0, `install ${extra.join(' ')}: ${result.stdout}${result.stderr}`);
      const after = fs.statSync(dir);
      const got = { uid: after.uid, gid: after.gid, mode: after.mode & 0o7777 };
      t.same(
        got,
        wanted === 'unchanged' ? { uid: before.uid, gid: before.gid, mode: 0o700 } : wanted,
        `install ${extra.join(' ') || '(no --owner)'}`,
      );
      t.equal(
        fs.statSync(path.join(dir, 'process-manager')).uid,
        0,
        'the files stay root’s: nobody but root may replace what PID 1 runs',
      );
    }
    for (const bad of ['elastic', '1000:', '-1', '1:2:3']) {
      const result = run(['install', tempDir(), '--owner', bad]);
      t.equal(result.status, 78, `--owner ${bad}: 78`);
      t.match(fatalLine(result).message, /--owner: .* is not UID\[:GID\]/);
    }
    const unknown = run(['install', tempDir(), '--mode', '0755']);
    t.equal(unknown.status, 64);
    t.match(fatalLine(unknown).message, /unknown option '--mode' for install/);
  },
);

t.test('issue 21: a ctl command given without ctl points at ctl (64)', async (t) => {
  const result = run(['stop']);
  t.equal(result.status, 64);
  t.match(
    fatalLine(result).message,
    /unexpected argument 'stop'; to talk to the running manager, run: process-manager ctl stop/,
  );
});
