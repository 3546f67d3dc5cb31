// The one "say a repeated reason once" gate the retry loops, polls and
// watchers share: new the first time, quiet while the value repeats, new
// again when it changes or after a recovery.

import t from 'tap';
import { trackRepeats } from '../../src/log/repeats.ts';

t.test('a value is new once, until it changes or is forgotten', async (t) => {
  const reasons = trackRepeats<string>();
  t.same(
    ['ENOENT', 'ENOENT', 'EACCES', 'ENOENT', 'ENOENT'].map((reason) => reasons.isNew(reason)),
    [true, false, true, true, false],
  );
  reasons.forget();
  t.equal(reasons.isNew('ENOENT'), true, 'after a recovery the same reason is news again');
});

t.test('a first value taken as already said', async (t) => {
  const pairs = trackRepeats(16);
  t.equal(pairs.isNew(16), false);
  t.equal(pairs.isNew(4), true);
  const maybe = trackRepeats<string | undefined>();
  t.equal(maybe.isNew(undefined), true, 'undefined is a value like any other, not "nothing seen"');
  t.equal(maybe.isNew(undefined), false);
});
