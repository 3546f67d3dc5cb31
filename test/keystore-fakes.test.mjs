// Exercises the keystore fakes for real (child processes, files, HTTPS) so that later tests of the
// keystore updater can rely on them behaving like elasticsearch-keystore and the reload API.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readFakeKeystore, startFakeEs } from './fixtures/keystore/fake-es.mjs';
import { waitFor, within } from './helpers/wait.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/keystore/', import.meta.url));
const KEYSTORE_CLI = path.join(FIXTURES, 'elasticsearch-keystore');
const FAKE_ES_SCRIPT = path.join(FIXTURES, 'fake-es.mjs');
const STDIN_EOF = 'unable to read from standard input; is standard input open and a tty attached?';
const SEED_PATTERN = /^[A-Za-z0-9~!@#$%^&*\-_=+?]{20}$/;

// ---- helpers ----

function makeTempDir(t, prefix = 'keystore-fakes-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The fakes read their knobs from the environment, so inherited ones must not leak into a run.
function childEnv(overrides) {
  const env = { ...process.env, ...overrides };
  for (const key of Object.keys(env)) {
    if (env[key] === undefined || (key.startsWith('FAKE_KEYSTORE_') && !(key in overrides))) delete env[key];
  }
  return env;
}

/** Runs the fake CLI with ES_PATH_CONF=configDir and the given stdin; resolves when it exits. */
function runKeystore(configDir, args, { stdin = '', env = {}, fds = [] } = {}) {
  return new Promise((resolve, reject) => {
    const stdio = ['pipe', 'pipe', 'pipe', ...fds];
    const child = spawn(KEYSTORE_CLI, args, { env: childEnv({ ES_PATH_CONF: configDir, ...env }), stdio });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    // The CLI may exit before reading everything we offered; that is not a test failure.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      const out = Buffer.concat(stdout);
      resolve({
        code,
        pid: child.pid,
        stdoutBytes: out,
        stdout: out.toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

function keystoreFile(configDir) {
  return path.join(configDir, 'elasticsearch.keystore');
}

function writeFile(dir, name, content) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

async function createKeystore(t, configDir, args = [], stdin = '') {
  const result = await runKeystore(configDir, ['create', ...args], { stdin });
  t.equal(result.code, 0, `create ${args.join(' ')} succeeds: ${result.stderr}`);
  return result;
}

async function listNames(configDir, stdin = '') {
  const result = await runKeystore(configDir, ['list'], { stdin });
  return result.code === 0 ? result.stdout.split('\n').filter(Boolean) : result;
}

async function generateCertificates(dir) {
  const openssl = (...args) => promisify(execFile)('openssl', args, { cwd: dir });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=fake-es-test-ca',
  );
  await openssl('req', ...ecKey, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=es-0');
  fs.writeFileSync(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    'node.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'node.crt',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8');
  return {
    ca: read('ca.crt'),
    cert: read('node.crt'),
    key: read('node.key'),
    certFile: path.join(dir, 'node.crt'),
    keyFile: path.join(dir, 'node.key'),
  };
}

function basicAuth(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** One HTTPS request with its own connection, trusting only `ca`. */
function httpsRequest(baseUrl, { method = 'POST', path: requestPath, authorization, body, ca }) {
  return new Promise((resolve, reject) => {
    const headers = authorization ? { authorization } : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const request = https.request(new URL(requestPath, baseUrl), { method, headers, ca, agent: false }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode, headers: response.headers, text, json: text ? JSON.parse(text) : null });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

// ---- shared setup: one CA and node certificate for every HTTPS test ----

const certDir = makeTempDir(t, 'fake-es-certs-');
const certs = await generateCertificates(certDir);

// ---- the fake elasticsearch-keystore ----

t.test('CLI usage and configuration errors', async (t) => {
  const configDir = makeTempDir(t);
  const noConf = await runKeystore(configDir, ['list'], { env: { ES_PATH_CONF: undefined } });
  t.equal(noConf.code, 78);
  t.equal(noConf.stderr, '\nERROR: the system property [es.path.conf] must be set, with exit code 78\n');

  const missing = await runKeystore(configDir, []);
  t.equal(missing.code, 64);
  t.match(missing.stderr, /\nERROR: Missing required command, with exit code 64\n$/);

  const unknown = await runKeystore(configDir, ['frobnicate']);
  t.equal(unknown.code, 64);
  t.match(unknown.stderr, /\nERROR: Unknown command \[frobnicate\], with exit code 64\n$/);

  const badOption = await runKeystore(configDir, ['list', '--bogus']);
  t.equal(badOption.code, 64);
  t.match(badOption.stderr, /ERROR: bogus is not a recognized option, with exit code 64\n$/);

  const notFound = await runKeystore(configDir, ['list']);
  t.equal(notFound.code, 65);
  t.equal(
    notFound.stderr,
    `\nERROR: Elasticsearch keystore not found at [${keystoreFile(configDir)}]. Use 'create' command to create one., with exit code 65\n`,
  );

  const silentNotFound = await runKeystore(configDir, ['remove', '-s', 'x']);
  t.equal(silentNotFound.code, 65);
  t.equal(
    silentNotFound.stderr,
    `ERROR: Elasticsearch keystore not found at [${keystoreFile(configDir)}]. Use 'create' command to create one., with exit code 65\n`,
    '-s drops the blank line',
  );
});

t.test('options parse like joptsimple: anywhere, abbreviated, -long, and -- ends them', async (t) => {
  const configDir = makeTempDir(t);
  const value = writeFile(configDir, 'value', 'V');
  // What a Secret key such as --help did to the updater: help on stdout, exit 0, nothing saved.
  for (const spelling of ['--help', '-help', '--he', '-h']) {
    const help = await runKeystore(configDir, ['add-file', '-f', spelling, value]);
    t.equal(help.code, 0, `${spelling}: help, exit 0`);
    t.match(help.stdout, /^Add a file setting to the keystore\n/, `${spelling}: the command's help`);
  }
  t.notOk(fs.existsSync(keystoreFile(configDir)), 'help saved nothing');
  const forcedLast = await runKeystore(configDir, ['add-file', 'plain', value, '-fo']);
  t.equal(forcedLast.code, 0, 'an option after the positionals, abbreviated (-fo = --force), still counts: no prompt');
  t.equal((await runKeystore(configDir, ['remove', 'plain'])).code, 0);
  const unknownShort = await runKeystore(configDir, ['add-file', '-f', '-x', value]);
  t.equal(unknownShort.code, 64);
  t.match(unknownShort.stderr, /\nERROR: x is not a recognized option, with exit code 64\n$/);
  t.match(
    unknownShort.stderr,
    /^A tool for managing settings stored in the elasticsearch keystore\n/,
    'the top-level help first, on stderr (as 8.x measured)',
  );

  const names = ['--help', '-f', '-x', '--', '-s'];
  const added = await runKeystore(configDir, ['add-file', '-f', '--', ...names.flatMap((name) => [name, value])]);
  t.equal(added.code, 0, `after --, names that look like options are settings: ${added.stderr}`);
  t.same(
    Object.keys(Object.fromEntries(readFakeKeystore(keystoreFile(configDir), '').entries)).sort(),
    [...names, 'keystore.seed'].sort(),
  );
  const removed = await runKeystore(configDir, ['remove', '--', ...names]);
  t.equal(removed.code, 0);
  t.equal((await runKeystore(configDir, ['list'])).stdout, 'keystore.seed\n');
  const legacy = await runKeystore(configDir, ['add-file', '-f', '--', '-x', value], {
    env: { FAKE_KEYSTORE_VERSION: '7.6.2' },
  });
  t.equal(legacy.code, 0, 'pre-7.7 too: -- ends options');
});

t.test('create writes a seed-only keystore atomically with mode 0660', async (t) => {
  const configDir = makeTempDir(t);
  const previousUmask = process.umask(0o077); // a strict umask would give 0600: the CLI must set 0660 itself
  let created;
  try {
    created = await createKeystore(t, configDir);
  } finally {
    process.umask(previousUmask);
  }
  t.equal(created.stdout, `Created elasticsearch keystore in ${keystoreFile(configDir)}\n`);
  t.equal(fs.statSync(keystoreFile(configDir)).mode & 0o777, 0o660);
  t.same(fs.readdirSync(configDir), ['elasticsearch.keystore'], 'no temp file left behind');
  t.same(await listNames(configDir), ['keystore.seed']);
  const seed = await runKeystore(configDir, ['show', 'keystore.seed']);
  t.match(seed.stdout, SEED_PATTERN);

  const again = await runKeystore(configDir, ['create'], { stdin: 'n\n' });
  t.equal(again.code, 0);
  t.equal(again.stdout, 'Exiting without creating keystore.\n');
  t.equal(again.stderr, 'An elasticsearch keystore already exists. Overwrite? [y/N]');
  t.equal(
    (await runKeystore(configDir, ['show', 'keystore.seed'])).stdout,
    seed.stdout,
    'declining keeps the old seed',
  );

  const overwrite = await runKeystore(configDir, ['create'], { stdin: 'y\n' });
  t.equal(overwrite.code, 0);
  t.not(
    (await runKeystore(configDir, ['show', 'keystore.seed'])).stdout,
    seed.stdout,
    'a new keystore gets a new seed',
  );
});

t.test('every save produces new bytes in a new inode', async (t) => {
  const configDir = makeTempDir(t);
  const value = writeFile(configDir, 'value', 'same');
  await createKeystore(t, configDir);
  const snapshots = [];
  for (let i = 0; i < 2; i++) {
    const result = await runKeystore(configDir, ['add-file', '-f', 'a.b', value]);
    t.equal(result.code, 0);
    const stat = fs.statSync(keystoreFile(configDir));
    snapshots.push({ bytes: fs.readFileSync(keystoreFile(configDir)), ino: stat.ino, mode: stat.mode & 0o777 });
  }
  t.notOk(snapshots[0].bytes.equals(snapshots[1].bytes), 'fresh salt and IV on every save');
  t.not(snapshots[0].ino, snapshots[1].ino, 'the file is replaced by rename, not rewritten in place');
  t.equal(snapshots[1].mode, 0o660);
});

t.test('add-file stores several pairs verbatim in one call', async (t) => {
  const configDir = makeTempDir(t);
  const sources = makeTempDir(t);
  const text = writeFile(sources, 'text', 'line one\nline two\n');
  const binary = writeFile(sources, 'binary', Buffer.from([0x00, 0xff, 0x10, 0x0a]));
  const target = writeFile(sources, 'target', 'through a link');
  fs.symlinkSync(target, path.join(sources, 'link'));
  await createKeystore(t, configDir);

  const added = await runKeystore(configDir, [
    'add-file',
    's3.client.default.access_key',
    text,
    'bin.value',
    binary,
    'linked',
    path.join(sources, 'link'),
  ]);
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout, '');
  t.same(
    await listNames(configDir),
    ['bin.value', 'keystore.seed', 'linked', 's3.client.default.access_key'],
    'sorted, seed included',
  );
  t.equal(
    (await runKeystore(configDir, ['show', 's3.client.default.access_key'])).stdout,
    'line one\nline two\n',
    'trailing newline kept',
  );
  t.ok((await runKeystore(configDir, ['show', 'bin.value'])).stdoutBytes.equals(Buffer.from([0x00, 0xff, 0x10, 0x0a])));
  t.equal((await runKeystore(configDir, ['show', 'linked'])).stdout, 'through a link', 'symlinks are followed');

  const noArgs = await runKeystore(configDir, ['add-file']);
  t.equal(noArgs.code, 64);
  t.match(noArgs.stderr, /\nERROR: Missing setting name, with exit code 64\n$/);
  const odd = await runKeystore(configDir, ['add-file', 'a', text, 'b']);
  t.equal(odd.code, 64);
  t.match(odd.stderr, /\nERROR: settings and filenames must come in pairs, with exit code 64\n$/);
});

t.test('add-file saves nothing when any pair fails', async (t) => {
  const configDir = makeTempDir(t);
  const good = writeFile(configDir, 'good', 'good');
  const missing = path.join(configDir, 'absent');
  await createKeystore(t, configDir);
  const before = fs.readFileSync(keystoreFile(configDir));

  const result = await runKeystore(configDir, ['add-file', '-f', 'first', good, 'second', missing]);
  t.equal(result.code, 74);
  t.equal(result.stderr, `\nERROR: File [${missing}] does not exist, with exit code 74\n`);
  t.ok(fs.readFileSync(keystoreFile(configDir)).equals(before), 'the first pair was not saved either');

  const badName = await runKeystore(configDir, ['add-file', '-f', 'bad name', good]);
  t.equal(badName.code, 70, 'add-file does not catch the invalid-name exception');
  t.match(
    badName.stderr,
    /^java\.lang\.IllegalArgumentException: Setting name \[bad name\] does not match the allowed setting name pattern \[\[A-Za-z0-9_\\-\.\]\+\]/,
  );
  t.ok(fs.readFileSync(keystoreFile(configDir)).equals(before));
});

t.test('remove takes several names and stops at the first unknown one without saving', async (t) => {
  const configDir = makeTempDir(t);
  const value = writeFile(configDir, 'v', 'v');
  await createKeystore(t, configDir);
  t.equal((await runKeystore(configDir, ['add-file', 'a', value, 'b', value, 'c', value])).code, 0);

  const removed = await runKeystore(configDir, ['remove', 'a', 'b']);
  t.equal(removed.code, 0, removed.stderr);
  t.same(await listNames(configDir), ['c', 'keystore.seed']);

  const before = fs.readFileSync(keystoreFile(configDir));
  const unknown = await runKeystore(configDir, ['remove', 'c', 'zz']);
  t.equal(unknown.code, 78);
  t.equal(unknown.stderr, '\nERROR: Setting [zz] does not exist in the keystore., with exit code 78\n');
  t.ok(fs.readFileSync(keystoreFile(configDir)).equals(before), 'c was not removed');
  t.same(await listNames(configDir), ['c', 'keystore.seed']);

  const none = await runKeystore(configDir, ['remove']);
  t.equal(none.code, 64);
  t.match(none.stderr, /\nERROR: Must supply at least one setting to remove, with exit code 64\n$/);
});

t.test('add and add-file create a missing keystore, asking first unless forced', async (t) => {
  const configDir = makeTempDir(t);
  const value = writeFile(configDir, 'v', 'v');
  const prompt = 'The elasticsearch keystore does not exist. Do you want to create it? [y/N]';

  const eof = await runKeystore(configDir, ['add-file', 'a', value]);
  t.equal(eof.code, 70);
  t.equal(
    eof.stderr.split('\n')[0],
    `${prompt}java.lang.IllegalStateException: ${STDIN_EOF}`,
    'prompt on stderr, then the EOF failure',
  );
  t.notOk(fs.existsSync(keystoreFile(configDir)));

  const declined = await runKeystore(configDir, ['add-file', 'a', value], { stdin: '\n' });
  t.equal(declined.code, 0);
  t.equal(declined.stdout, 'Exiting without creating keystore.\n', 'an empty answer means the default, no');
  t.notOk(fs.existsSync(keystoreFile(configDir)));

  const accepted = await runKeystore(configDir, ['add-file', 'a', value], { stdin: 'Y\n' });
  t.equal(accepted.code, 0, accepted.stderr);
  t.same(await listNames(configDir), ['a', 'keystore.seed'], 'auto-create adds the seed');

  fs.rmSync(keystoreFile(configDir));
  const forced = await runKeystore(configDir, ['add', '-f', '-x', 'b'], { stdin: 'secret\n' });
  t.equal(forced.code, 0);
  t.equal(forced.stderr, '', 'no prompt at all with -f -x');
  t.same(await listNames(configDir), ['b', 'keystore.seed']);
});

t.test('existing settings need an answer before they are overwritten', async (t) => {
  const configDir = makeTempDir(t);
  const oldValue = writeFile(configDir, 'old', 'old');
  const newValue = writeFile(configDir, 'new', 'new');
  await createKeystore(t, configDir);
  t.equal((await runKeystore(configDir, ['add-file', 'a', oldValue])).code, 0);
  const before = fs.readFileSync(keystoreFile(configDir));

  const eof = await runKeystore(configDir, ['add-file', 'fresh', newValue, 'a', newValue]);
  t.equal(eof.code, 70);
  t.match(eof.stderr, `Setting a already exists. Overwrite? [y/N]java.lang.IllegalStateException: ${STDIN_EOF}`);
  t.ok(fs.readFileSync(keystoreFile(configDir)).equals(before), 'EOF changes nothing');

  const no = await runKeystore(configDir, ['add-file', 'fresh', newValue, 'a', newValue], { stdin: 'n\n' });
  t.equal(no.code, 0);
  t.equal(no.stdout, 'Exiting without modifying keystore.\n');
  t.ok(fs.readFileSync(keystoreFile(configDir)).equals(before), '"no" discards the earlier pair too');

  const unclear = await runKeystore(configDir, ['add-file', 'a', newValue], { stdin: 'Maybe\ny\n' });
  t.equal(unclear.code, 0);
  t.match(unclear.stderr, "Did not understand answer 'maybe'\n", 'the answer is lower-cased before it is echoed');
  t.equal((await runKeystore(configDir, ['show', 'a'])).stdout, 'new');
});

t.test('add reads one value per line and validates names', async (t) => {
  const configDir = makeTempDir(t);
  await createKeystore(t, configDir);
  const added = await runKeystore(configDir, ['add', '-x', 'one', 'two'], { stdin: 'first\r\nsecond\n' });
  t.equal(added.code, 0, added.stderr);
  t.equal((await runKeystore(configDir, ['show', 'one'])).stdout, 'first', 'CRLF stripped');
  t.equal((await runKeystore(configDir, ['show', 'two'])).stdout, 'second');

  const prompted = await runKeystore(configDir, ['add', 'three'], { stdin: 'third\n' });
  t.equal(prompted.stderr, 'Enter value for three: ');

  const invalid = await runKeystore(configDir, ['add', '-x', 'no/slash'], { stdin: 'x\n' });
  t.equal(invalid.code, 65);
  t.equal(
    invalid.stderr,
    '\nERROR: Setting name [no/slash] does not match the allowed setting name pattern [[A-Za-z0-9_\\-.]+], with exit code 65\n',
  );
});

t.test('password-protected keystores read the password from the first stdin line', async (t) => {
  const configDir = makeTempDir(t);
  const value = writeFile(configDir, 'v', 'protected value');
  const created = await createKeystore(t, configDir, ['-p'], 'pw\npw\n');
  t.equal(
    created.stderr,
    'Enter new password for the elasticsearch keystore (empty for no password): Enter same password again: ',
  );

  const has = await runKeystore(configDir, ['has-passwd']);
  t.equal(has.code, 0);
  t.equal(has.stdout, 'Keystore is password-protected\n');

  const noPassword = await runKeystore(configDir, ['list']);
  t.equal(noPassword.code, 70);
  t.match(
    noPassword.stderr,
    /^Enter password for the elasticsearch keystore : java\.lang\.IllegalStateException: unable to read/,
  );

  const wrong = await runKeystore(configDir, ['list'], { stdin: 'nope\n' });
  t.equal(wrong.code, 65);
  t.equal(
    wrong.stderr,
    'Enter password for the elasticsearch keystore : \nERROR: Provided keystore password was incorrect, with exit code 65\n',
  );

  const added = await runKeystore(configDir, ['add-file', '-f', 'x.y', value], { stdin: 'pw\n' });
  t.equal(added.code, 0, added.stderr);
  t.same(await listNames(configDir, 'pw\n'), ['keystore.seed', 'x.y']);
  t.equal(
    readFakeKeystore(keystoreFile(configDir), 'pw').entries.get('x.y').toString(),
    'protected value',
    'fake-es reads what the CLI wrote',
  );

  const changed = await runKeystore(configDir, ['passwd'], { stdin: 'pw\nnew\nnew\n' });
  t.equal(changed.stdout, 'Elasticsearch keystore password changed successfully.\n');
  t.same(await listNames(configDir, 'new\n'), ['keystore.seed', 'x.y']);

  const mismatch = await runKeystore(configDir, ['create', '-p'], { stdin: 'a\nb\n' });
  t.equal(mismatch.code, 65);
  t.match(mismatch.stderr, /\nERROR: Passwords are not equal, exiting\., with exit code 65\n$/);

  const unprotectedDir = makeTempDir(t);
  const noKeystore = await runKeystore(unprotectedDir, ['has-passwd']);
  t.equal(noKeystore.code, 1);
  t.equal(noKeystore.stderr, 'ERROR: Elasticsearch keystore not found\n');
  await createKeystore(t, unprotectedDir);
  const unprotected = await runKeystore(unprotectedDir, ['has-passwd']);
  t.equal(unprotected.code, 1);
  t.equal(unprotected.stderr, 'ERROR: Keystore is not password-protected\n');
  const silent = await runKeystore(unprotectedDir, ['has-passwd', '--silent']);
  t.equal(silent.code, 1);
  t.equal(silent.stderr, '', '--silent leaves only the exit code');
});

t.test('pre-7.7 mode (FAKE_KEYSTORE_VERSION=7.6.2)', async (t) => {
  const configDir = makeTempDir(t);
  const env = { FAKE_KEYSTORE_VERSION: '7.6.2' };
  const value = writeFile(configDir, 'v', 'v');

  const notFound = await runKeystore(configDir, ['list'], { env });
  t.equal(notFound.code, 65);
  t.equal(notFound.stderr, "\nERROR: Elasticsearch keystore not found. Use 'create' command to create one.\n");

  const autoCreated = await runKeystore(configDir, ['add-file', '-f', 'a', value], { env });
  t.equal(autoCreated.code, 0, autoCreated.stderr);
  t.equal(autoCreated.stdout, `Created elasticsearch keystore in ${configDir}\n`);

  const twoPairs = await runKeystore(configDir, ['add-file', '-f', 'b', value, 'c', value], { env });
  t.equal(twoPairs.code, 64);
  t.match(twoPairs.stderr, `\nERROR: Unrecognized extra arguments [c, ${value}] after filepath\n`);
  t.same(await listNames(configDir), ['a', 'keystore.seed'], 'nothing added');

  const noFile = await runKeystore(configDir, ['add-file', '-f', 'b'], { env });
  t.equal(noFile.code, 64);
  t.match(noFile.stderr, /\nERROR: Missing file name\n$/);

  const password = await runKeystore(configDir, ['create', '-p'], { env });
  t.equal(password.code, 64);
  t.match(password.stderr, /ERROR: p is not a recognized option\n$/);
  for (const command of ['passwd', 'has-passwd']) {
    const result = await runKeystore(configDir, [command], { env });
    t.equal(result.code, 64);
    t.match(result.stderr, `ERROR: Unknown command [${command}]`);
  }

  const eof = await runKeystore(configDir, ['add-file', 'a', value], { env });
  t.equal(eof.code, 1, 'exceptions escape main and the JVM exits 1');
  t.match(eof.stderr, `Exception in thread "main" java.lang.IllegalStateException: ${STDIN_EOF}`);

  const modern = await runKeystore(configDir, ['add-file', '-f', 'b', value, 'c', value]);
  t.equal(modern.code, 0, 'the same call succeeds in the default 8.x mode');
});

t.test('knobs: delay, invocation log, injected failure', async (t) => {
  const configDir = makeTempDir(t);
  const logFile = path.join(configDir, 'invocations.jsonl');
  const value = writeFile(configDir, 'v', 'v');
  const env = { FAKE_KEYSTORE_LOG: logFile };

  const slow = await runKeystore(configDir, ['create'], { env: { ...env, FAKE_KEYSTORE_DELAY_MS: '400' } });
  const fast = await runKeystore(configDir, ['list'], { env });
  const failing = await runKeystore(configDir, ['add-file', '-f', 'a', value], {
    env: { ...env, FAKE_KEYSTORE_FAIL: 'add-file' },
  });
  t.equal(failing.code, 74);
  t.match(failing.stderr, /^java\.io\.IOException: simulated I\/O failure in add-file/);
  t.same(await listNames(configDir), ['keystore.seed'], 'the failing call saved nothing');

  const entries = fs
    .readFileSync(logFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.same(
    entries.map((e) => [e.argv, e.pid, e.exit]),
    [
      [['create'], slow.pid, 0],
      [['list'], fast.pid, 0],
      [['add-file', '-f', 'a', value], failing.pid, 74],
    ],
    'one line per invocation with argv, pid and exit code',
  );
  t.ok(entries.every((e) => !Number.isNaN(Date.parse(e.time)) && e.esPathConf === configDir));
  t.ok(entries[0].durationMs >= 400, `delay honoured (${entries[0].durationMs} ms)`);
  t.ok(entries[1].durationMs < 400, `no delay without the knob (${entries[1].durationMs} ms)`);
});

t.test('add-file reads an inherited descriptor as /dev/fd/N; FAKE_KEYSTORE_BEFORE_READ runs just before', async (t) => {
  const configDir = makeTempDir(t);
  const source = writeFile(configDir, 'source', 'checked bytes');
  const hook = path.join(configDir, 'hook.sh');
  // The hook moves the name away and puts other bytes there: a reopen by name would read them.
  fs.writeFileSync(
    hook,
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${configDir}/hook-args"\nmv "${source}" "${source}.old" && printf swapped > "${source}"\n`,
    { mode: 0o755 },
  );
  const fd = fs.openSync(source, 'r');
  t.teardown(() => fs.closeSync(fd));
  const env = { FAKE_KEYSTORE_BEFORE_READ: hook };
  for (const version of ['8.15.0', '7.6.2']) {
    fs.rmSync(keystoreFile(configDir), { force: true });
    if (fs.existsSync(`${source}.old`)) fs.renameSync(`${source}.old`, source);
    const added = await runKeystore(configDir, ['add-file', '-f', '--', 'pinned', '/dev/fd/3'], {
      env: { ...env, FAKE_KEYSTORE_VERSION: version },
      fds: [fd],
    });
    t.equal(added.code, 0, `${version}: ${added.stderr}`);
    t.equal(
      fs.readFileSync(path.join(configDir, 'hook-args'), 'utf8'),
      '/dev/fd/3\n',
      `${version}: the hook got the file arguments`,
    );
    t.equal(fs.readFileSync(source, 'utf8'), 'swapped', `${version}: the hook ran before the read`);
    t.equal(
      (await runKeystore(configDir, ['show', 'pinned'])).stdout,
      'checked bytes',
      `${version}: the descriptor's file was read, not the name's`,
    );
  }

  // Not fd 3: the fake's own Node runtime holds one there (as a JVM holds its own files), which reads as a file that exists.
  const closed = await runKeystore(configDir, ['add-file', '-f', '--', 'missing', '/dev/fd/200']);
  t.equal(closed.code, 74, 'a descriptor not passed: as for any missing file');
  t.equal(closed.stderr, '\nERROR: File [/dev/fd/200] does not exist, with exit code 74\n');

  fs.writeFileSync(hook, '#!/bin/sh\nexit 3\n');
  const failing = await runKeystore(configDir, ['add-file', '-f', 'other', source], { env });
  t.equal(failing.code, 70, 'a failing hook fails the call');
  t.match(failing.stderr, /FAKE_KEYSTORE_BEFORE_READ .* failed: exit 3/);
  t.same(await listNames(configDir), ['keystore.seed', 'pinned'], 'and nothing is saved');
});

t.test('a leftover temp file blocks saving, as with 8.x CREATE_NEW', async (t) => {
  const configDir = makeTempDir(t);
  const value = writeFile(configDir, 'v', 'v');
  await createKeystore(t, configDir);
  fs.writeFileSync(path.join(configDir, 'elasticsearch.keystore.tmp'), 'stale');
  const blocked = await runKeystore(configDir, ['add-file', '-f', 'a', value]);
  t.equal(blocked.code, 74);
  t.match(blocked.stderr, /^java\.nio\.file\.FileAlreadyExistsException: .*elasticsearch\.keystore\.tmp/);
  t.same(await listNames(configDir), ['keystore.seed']);
});

t.test(
  'two writers at once: both fail with 74 and leave no temp file; 0.3 s apart: both exit 0, the first update is lost',
  async (t) => {
    const configDir = makeTempDir(t);
    await createKeystore(t, configDir);
    // A writer that holds the temp file: it fails once, and its clean-up removes the temp file.
    fs.writeFileSync(path.join(configDir, 'elasticsearch.keystore.tmp'), 'another writer');
    const racing = await runKeystore(configDir, ['add', '-x', 'a'], { stdin: 'A\n' });
    t.equal(racing.code, 74);
    t.match(
      racing.stderr,
      /^java\.nio\.file\.FileAlreadyExistsException: .*\.tmp\n\tat java\.base\/sun\.nio\.fs\.UnixException/,
      'a Java stack trace on stderr',
    );
    t.notOk(
      fs.existsSync(path.join(configDir, 'elasticsearch.keystore.tmp')),
      "the failing save deleted the other writer's temp file",
    );

    // No lock: a writer that read the keystore before another one saved overwrites that save.
    const gate = path.join(configDir, 'gate');
    const hook = path.join(configDir, 'hold.sh');
    fs.writeFileSync(hook, `#!/bin/sh\ntouch ${gate}.read\nwhile [ ! -e ${gate}.go ]; do sleep 0.02; done\n`, {
      mode: 0o755,
    });
    const slowValue = writeFile(configDir, 'slow-value', 'S');
    const slow = runKeystore(configDir, ['add-file', '-f', 'slow', slowValue], {
      env: { FAKE_KEYSTORE_BEFORE_READ: hook },
    });
    await waitFor(() => fs.existsSync(`${gate}.read`), `${gate}.read to exist`, 30_000);
    const fast = await runKeystore(configDir, ['add', '-x', 'fast'], { stdin: 'F\n' });
    t.equal(fast.code, 0);
    fs.writeFileSync(`${gate}.go`, '');
    t.equal((await slow).code, 0, 'both exit 0');
    t.same(await listNames(configDir), ['keystore.seed', 'slow'], "the first writer's update is lost");
  },
);

t.test('JVM latency knob, ES_PATH_CONF that does not exist, environment noise', async (t) => {
  const configDir = makeTempDir(t);
  const started = Date.now();
  const list = await runKeystore(configDir, ['has-passwd', '-s'], { env: { FAKE_KEYSTORE_JVM_MS: '200' } });
  t.equal(list.code, 1);
  t.ok(Date.now() - started >= 600, 'three JVM starts per call');

  const cwd = makeTempDir(t);
  const missing = path.join(configDir, 'no-such-dir');
  const fallback = await new Promise((resolve) => {
    const child = spawn(KEYSTORE_CLI, ['add', '-x', '-f', 'a'], { cwd, env: childEnv({ ES_PATH_CONF: missing }) });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdin.end('A\n');
    child.on('close', (code) => resolve({ code, stderr }));
  });
  t.equal(fallback.code, 0, 'not fatal');
  t.match(fallback.stderr, `cd: ${missing}: No such file or directory`);
  t.notOk(fs.existsSync(missing), 'the missing directory is not created');
  t.ok(fs.existsSync(keystoreFile(cwd)), 'the keystore lands in the working directory instead');

  const noisy = await runKeystore(configDir, ['create'], {
    env: { JAVA_TOOL_OPTIONS: '-Xss1m', JAVA_HOME: '/opt/jdk' },
  });
  t.match(noisy.stdout, /^Picked up JAVA_TOOL_OPTIONS: -Xss1m\n/, 'JAVA_TOOL_OPTIONS adds a line to stdout');
  t.match(noisy.stderr, /JAVA_HOME/, 'JAVA_HOME a warning on stderr');
});

t.test('FAKE_KEYSTORE_AFTER_SAVE runs after the save, before the exit, and knows the caller', async (t) => {
  const configDir = makeTempDir(t);
  const seen = path.join(configDir, 'seen');
  const hook = path.join(configDir, 'hook.sh');
  fs.writeFileSync(
    hook,
    `#!/bin/sh\necho "$FAKE_KEYSTORE_CALLER_PID $ES_PATH_CONF" > ${seen}\ncp "$ES_PATH_CONF/elasticsearch.keystore" ${seen}.keystore\n`,
    { mode: 0o755 },
  );
  const result = await runKeystore(configDir, ['add', '-x', '-f', 'a'], {
    stdin: 'A\n',
    env: { FAKE_KEYSTORE_AFTER_SAVE: hook },
  });
  t.equal(result.code, 0);
  t.equal(fs.readFileSync(seen, 'utf8'), `${process.pid} ${configDir}\n`);
  t.same(
    [...readFakeKeystore(`${seen}.keystore`, '').entries.keys()].sort(),
    ['a', 'keystore.seed'],
    'the keystore was saved when the hook ran',
  );
});

// ---- the fake reload endpoint ----

t.test('fake ES reload endpoint over HTTPS', async (t) => {
  const es = await startFakeEs({ cert: certs.cert, key: certs.key, username: 'elastic', password: 's3cret' });
  t.teardown(() => es.close());
  const auth = basicAuth('elastic', 's3cret');
  const call = (options) =>
    httpsRequest(es.url, { ca: certs.ca, path: '/_nodes/_local/reload_secure_settings', ...options });

  await t.rejects(
    httpsRequest(es.url, { method: 'GET', path: '/', authorization: auth }),
    { code: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/ },
    'negative control: without the CA the certificate is rejected',
  );

  const info = await call({ method: 'GET', path: '/', authorization: auth });
  t.equal(info.status, 200);
  t.equal(info.json.tagline, 'You Know, for Search');
  t.equal(info.headers['x-elastic-product'], 'Elasticsearch');

  const anonymous = await call({});
  t.equal(anonymous.status, 401);
  t.equal(anonymous.headers['www-authenticate'], 'Basic realm="security" charset="UTF-8"');
  t.same(anonymous.json.error.root_cause[0], {
    type: 'security_exception',
    reason: 'missing authentication credentials for REST request [/_nodes/_local/reload_secure_settings]',
    header: { 'WWW-Authenticate': 'Basic realm="security" charset="UTF-8"' },
  });
  t.equal(anonymous.json.status, 401);

  const wrong = await call({ authorization: basicAuth('elastic', 'nope') });
  t.equal(wrong.status, 401);
  t.equal(
    wrong.json.error.reason,
    'unable to authenticate user [elastic] for REST request [/_nodes/_local/reload_secure_settings]',
  );

  const ok = await call({ authorization: auth });
  t.equal(ok.status, 200);
  t.same(ok.json, {
    _nodes: { total: 1, successful: 1, failed: 0 },
    cluster_name: 'elasticsearch',
    nodes: { [es.nodeId]: { name: 'es-0' } },
  });
  const clusterWide = await call({ path: '/_nodes/reload_secure_settings', authorization: auth, body: '{}' });
  t.equal(clusterWide.json._nodes.successful, 1);
  const byId = await call({ path: `/_nodes/${es.nodeId}/reload_secure_settings`, authorization: auth });
  t.equal(byId.json._nodes.total, 1);
  const otherNode = await call({ path: '/_nodes/someone-else/reload_secure_settings', authorization: auth });
  t.same(
    otherNode.json._nodes,
    { total: 0, successful: 0, failed: 0 },
    'a filter that misses the node reaches no node',
  );

  const unknownField = await call({ authorization: auth, body: '{"password":"x"}' });
  t.equal(unknownField.status, 400);
  t.match(unknownField.json.error.reason, 'unknown field [password]');
  t.equal((await call({ authorization: auth, body: '{not json' })).status, 400);

  const logged = es.requests.at(-1);
  t.same(
    [logged.method, logged.path, logged.body, logged.headers.authorization],
    ['POST', '/_nodes/_local/reload_secure_settings', '{not json', auth],
  );

  es.setMode('forbidden');
  const forbidden = await call({ authorization: auth });
  t.equal(forbidden.status, 403);
  t.match(
    forbidden.json.error.reason,
    /^action \[cluster:admin\/nodes\/reload_secure_settings\] is unauthorized for user \[elastic\]/,
  );

  es.setMode('unavailable');
  const unavailable = await call({ authorization: auth });
  t.equal(unavailable.status, 503);
  t.same(unavailable.json, {
    error: {
      root_cause: [{ type: 'master_not_discovered_exception', reason: null }],
      type: 'master_not_discovered_exception',
      reason: null,
    },
    status: 503,
  });

  es.setMode('reload_exception');
  const failedReload = await call({ authorization: auth });
  t.equal(failedReload.status, 200, 'per-node failures keep HTTP 200');
  t.equal(failedReload.json.nodes[es.nodeId].reload_exception.type, 'illegal_state_exception');
  t.same(failedReload.json._nodes, { total: 1, successful: 1, failed: 0 }, 'and do not show in _nodes, as in ES');

  t.throws(() => es.setMode('sideways'), TypeError);
});

t.test('fake ES re-reads the keystore on every reload', async (t) => {
  const configDir = makeTempDir(t);
  const es = await startFakeEs({
    cert: certs.cert,
    key: certs.key,
    username: 'elastic',
    password: 'pw',
    keystorePath: keystoreFile(configDir),
  });
  t.teardown(() => es.close());
  const reload = (body) =>
    httpsRequest(es.url, {
      ca: certs.ca,
      path: '/_nodes/_local/reload_secure_settings',
      authorization: basicAuth('elastic', 'pw'),
      body,
    });
  const nodeOf = (response) => response.json.nodes[es.nodeId];

  const missing = await reload();
  t.same(nodeOf(missing).reload_exception, { type: 'illegal_state_exception', reason: 'Keystore is missing' });

  await createKeystore(t, configDir, ['-p'], 'kspw\nkspw\n');
  const value = writeFile(configDir, 'v', 'v');
  t.equal(
    (
      await runKeystore(configDir, ['add-file', 'xpack.notification.slack.account.a.secure_url', value], {
        stdin: 'kspw\n',
      })
    ).code,
    0,
  );

  const noPassword = await reload();
  t.same(nodeOf(noPassword).reload_exception, {
    type: 'security_exception',
    reason: 'Provided keystore password was incorrect',
  });
  const wrongPassword = await reload('{"secure_settings_password":"nope"}');
  t.equal(nodeOf(wrongPassword).reload_exception.reason, 'Provided keystore password was incorrect');
  const rightPassword = await reload('{"secure_settings_password":"kspw"}');
  t.equal(rightPassword.status, 200);
  t.notOk('reload_exception' in nodeOf(rightPassword));
  t.same(
    es.reloads.at(-1).settingNames,
    ['keystore.seed', 'xpack.notification.slack.account.a.secure_url'],
    'the reload saw the current keystore',
  );

  es.setKeystorePath(path.join(configDir, 'elsewhere.keystore'));
  t.equal(nodeOf(await reload('{"secure_settings_password":"kspw"}')).reload_exception.reason, 'Keystore is missing');
});

t.test('fake ES runs as a script and takes control lines on stdin', async (t) => {
  const child = spawn(
    process.execPath,
    [FAKE_ES_SCRIPT, '--port', '0', '--cert', certs.certFile, '--key', certs.keyFile, '--user', 'u', '--password', 'p'],
    { env: childEnv({}) },
  );
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  const lines = [];
  let waiter = null;
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop();
    lines.push(...parts);
    waiter?.();
  });
  const nextLine = () =>
    within(
      new Promise((resolve) => {
        const check = () => {
          if (lines.length === 0) return;
          waiter = null;
          resolve(lines.shift());
        };
        waiter = check;
        check();
      }),
      'a line from fake-es',
      20_000,
    );

  const ready = await nextLine();
  t.match(ready, /^listening \d+$/);
  const url = `https://127.0.0.1:${ready.split(' ')[1]}`;
  const info = await httpsRequest(url, { method: 'GET', path: '/', ca: certs.ca, authorization: basicAuth('u', 'p') });
  t.equal(info.status, 200);

  child.stdin.write('mode unavailable\n');
  t.equal(await nextLine(), 'ok');
  const unavailable = await httpsRequest(url, {
    path: '/_nodes/_local/reload_secure_settings',
    ca: certs.ca,
    authorization: basicAuth('u', 'p'),
  });
  t.equal(unavailable.status, 503);

  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  t.same(
    await within(exited, 'the fake ES to exit', 60_000),
    { code: 0, signal: null },
    'SIGTERM closes the server and exits 0',
  );
});
