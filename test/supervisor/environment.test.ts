// The manager's own configuration stays with the manager.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { stopManager, tempDir, waitFor } from '../helpers/manager.ts';

t.test('the child environment lacks PM_*, PASSWORD and the keystore variables, and keeps the rest', async (t) => {
  const secrets = {
    PASSWORD: 'reload-secret',
    USERNAME: 'reloader',
    PASSWORD_FILE: '/run/secret',
    KEYSTORE_ES_PASSWORD: 'alias-secret',
    KEYSTORE_UPDATER: 'false',
    SOURCE_DIR: '/nowhere',
    ENDPOINT: 'https://127.0.0.1:9200',
    PM_STOP_TIMEOUT: '7s',
    PM_LOG_LEVEL: 'info',
  };
  const dir = tempDir();
  const envFile = path.join(dir, 'child-env');
  const run = await startOnFakeEs({
    dir,
    env: { ...secrets, ES_JAVA_OPTS: '-Xms1g', node_name: 'node-0', FAKE_ES_ENV_FILE: envFile },
  });
  t.teardown(() => stopManager(run.manager));
  const text = await waitFor(() => fs.existsSync(envFile) && fs.readFileSync(envFile, 'utf8'), 'the environment dump');
  const names = text.split('\n').map((line) => line.split('=')[0]);
  for (const name of Object.keys(secrets)) t.notOk(names.includes(name), `${name} is not passed on`);
  t.notOk(
    names.some((name) => name.startsWith('PM_')),
    'no PM_ variable at all',
  );
  t.ok(names.includes('ES_JAVA_OPTS') && names.includes('node_name') && names.includes('PATH'), 'everything else is');
  t.notOk(text.includes('reload-secret'), 'the password appears nowhere');
});

// issue 13: the build sets UV_THREADPOOL_SIZE=1 for the manager; Elasticsearch must not inherit it.
t.test("the manager's own UV_THREADPOOL_SIZE does not reach the process; an operator's does", async (t) => {
  for (const [given, expected] of [
    [undefined, undefined],
    ['8', '8'],
  ] as const) {
    const dir = tempDir();
    const envFile = path.join(dir, 'child-env');
    const run = await startOnFakeEs({ dir, env: { UV_THREADPOOL_SIZE: given as string, FAKE_ES_ENV_FILE: envFile } });
    const text = await waitFor(
      () => fs.existsSync(envFile) && fs.readFileSync(envFile, 'utf8'),
      'the environment dump',
    );
    await stopManager(run.manager);
    const value = text
      .split('\n')
      .find((line) => line.startsWith('UV_THREADPOOL_SIZE='))
      ?.slice('UV_THREADPOOL_SIZE='.length);
    t.equal(value, expected, given === undefined ? 'not set by the pod: absent' : 'set by the pod: passed on');
  }
});
