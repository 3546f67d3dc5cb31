// The keystore updater is configured by environment only, with the names the
// original design used, plus their KEYSTORE_-prefixed spellings.

export interface KeystoreVariable {
  /** Name from the original design; wins when both spellings are set. */
  readonly name: string;
  readonly alias?: string;
  readonly defaultValue?: string;
  readonly help: string;
}

export const KEYSTORE_VARIABLES = {
  sourceDir: {
    name: 'SOURCE_DIR',
    alias: 'KEYSTORE_SOURCE_DIR',
    defaultValue: '/volumes/secrets',
    help: "each regular, non-hidden entry is one secure setting; the default is the original design's (volumes, plural)",
  },
  binary: {
    name: 'KEYSTORE_BINARY',
    defaultValue: '/usr/share/elasticsearch/bin/elasticsearch-keystore',
    help: 'the elasticsearch-keystore CLI',
  },
  keystorePath: {
    name: 'KEYSTORE_PATH',
    defaultValue: '/usr/share/elasticsearch/config/elasticsearch.keystore',
    help: 'the keystore; ES_PATH_CONF is set to its directory for the CLI',
  },
  reloadCredentials: {
    name: 'RELOAD_CREDENTIALS',
    alias: 'KEYSTORE_RELOAD_CREDENTIALS',
    defaultValue: 'false',
    help: 'true: call the reload API after each change',
  },
  username: { name: 'USERNAME', alias: 'KEYSTORE_ES_USERNAME', help: 'basic auth user for the reload call' },
  password: { name: 'PASSWORD', alias: 'KEYSTORE_ES_PASSWORD', help: 'basic auth password for the reload call' },
  passwordFile: {
    name: 'PASSWORD_FILE',
    alias: 'KEYSTORE_ES_PASSWORD_FILE',
    help: 'file holding that password, re-read at each call',
  },
  certificatesPath: {
    name: 'CERTIFICATES_PATH',
    alias: 'KEYSTORE_ES_CERTS_PATH',
    defaultValue: '/volume/node-certs',
    help: "CA to trust for the reload call and the readiness check: PEM file or directory; the default is the original design's (volume, singular)",
  },
  endpoint: {
    name: 'ENDPOINT',
    alias: 'KEYSTORE_ES_ENDPOINT',
    defaultValue: 'https://127.0.0.1:9200',
    help: 'Elasticsearch URL for the reload call',
  },
  keystorePassword: { name: 'KEYSTORE_PASSWORD', help: 'password of a password-protected keystore' },
  keystorePasswordFile: { name: 'KEYSTORE_PASSWORD_FILE', help: 'file holding that password' },
  enabled: {
    name: 'KEYSTORE_UPDATER',
    defaultValue: 'auto',
    help: 'auto (run when SOURCE_DIR exists), true (required) or false',
  },
} as const satisfies Record<string, KeystoreVariable>;

export type KeystoreVariableName = keyof typeof KEYSTORE_VARIABLES;

/** Every spelling of every keystore variable, for scrubbing the child's environment. */
export const KEYSTORE_VARIABLE_SPELLINGS: readonly string[] = Object.values(KEYSTORE_VARIABLES).flatMap(
  (v: KeystoreVariable) => (v.alias ? [v.name, v.alias] : [v.name]),
);
