// The state lock's name is this digest: it must be SHA-256 exactly (names must not change between versions).

import { createHash } from 'node:crypto';
import t from 'tap';
import { sha256Hex } from '../../src/files/sha256.ts';

t.test('sha256Hex equals node:crypto at every padding boundary and beyond', async (t) => {
  const lengths = [0, 1, 3, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000];
  for (const length of lengths) {
    const text = Array.from({ length }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('');
    t.equal(sha256Hex(text), createHash('sha256').update(text).digest('hex'), `${length} bytes`);
  }
  t.equal(
    sha256Hex(''),
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'the empty string, by its known digest',
  );
  const unicode = '2049:131077/état/ünïcode-✓';
  t.equal(sha256Hex(unicode), createHash('sha256').update(unicode).digest('hex'), 'UTF-8, not UTF-16');
});
