// Gives the system back the heap a burst of connections left behind. Each new
// TLS connection leaves garbage that survives the small young generation, so
// V8's old generation grows to its first limit (half of --max-old-space-size)
// before a full collection: +9 MiB private memory after 10,000 mTLS
// connections, kept, because the memory reducer is off (it would wake an idle
// manager) and a regular full collection returns pages to V8's own pool, not
// to the system. V8's low-memory collection ("last-resort") does: measured in
// a bare Node.js 24.22.3 mTLS server, 23.1 -> 12.9 MiB. So, once the API has
// been quiet for a moment, and only if the heap has grown, collect.

// node:v8 and node:vm are loaded with the first collection, not before the API can answer (issue 20): the heap's
// size comes from process.memoryUsage(), the same figure as V8's total_heap_size.

export interface HeapTrimmer {
  /** A connection or a request came: look at the heap once they have been quiet for a moment. */
  noteActivity(): void;
  close(): void;
}

const QUIET_MS = 1_000;
// A collection costs 12-16 ms of CPU (measured, 6 MiB heap): worth it once
// the heap has grown by this much. With 2 MiB, a manager idle after its
// start-up requests kept 1.7 MiB more (bench figure 2: 16.3 against 14.6 MiB).
const GROWTH_BYTES = 1024 * 1024;

type GarbageCollect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export function createHeapTrimmer(): HeapTrimmer {
  const heapSize = (): number => process.memoryUsage().heapTotal;
  let trimmedAt = heapSize();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let isSupported = true;

  const trimIfGrown = async (): Promise<void> => {
    if (heapSize() - trimmedAt < GROWTH_BYTES) return;
    const collect = await garbageCollector();
    if (!collect) {
      isSupported = false;
      return;
    }
    collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    trimmedAt = heapSize();
  };

  return {
    noteActivity() {
      if (!isSupported) return;
      clearTimeout(timer);
      timer = setTimeout(() => void trimIfGrown(), QUIET_MS);
      timer.unref();
    },
    close() {
      clearTimeout(timer);
    },
  };
}

/**
 * V8's gc(), which only a context created after --expose-gc carries. Made
 * afresh each time and not kept, so an idle manager holds no extra context.
 * Undefined where the runtime offers no such thing (Deno).
 */
async function garbageCollector(): Promise<GarbageCollect | undefined> {
  try {
    const [{ default: v8 }, { default: vm }] = await Promise.all([import('node:v8'), import('node:vm')]);
    v8.setFlagsFromString('--expose-gc');
    const collect: unknown = vm.runInNewContext('gc');
    return typeof collect === 'function' ? (collect as GarbageCollect) : undefined;
  } catch {
    return undefined;
  }
}
