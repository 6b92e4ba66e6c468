/**
 * Runs `work` over `items` with at most `concurrency` in flight. Before each item starts, `gate` may delay it
 * (resolving true) or stop the run (resolving false): no further item starts, those in flight finish.
 */
export async function runBounded<T>(
  items: AsyncIterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
  gate: () => Promise<boolean>,
): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  let stopped = false;
  // The iterator is shared by the workers; pulls are serialized so each item is taken exactly once.
  let pulling: Promise<unknown> = Promise.resolve();
  const next = (): Promise<IteratorResult<T>> => {
    const result = pulling.then(() => iterator.next());
    pulling = result.catch(() => undefined);
    return result;
  };
  const worker = async () => {
    while (!stopped) {
      if (!(await gate())) {
        stopped = true;
        break;
      }
      const item = await next();
      if (item.done) break;
      await work(item.value);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  } finally {
    await iterator.return?.();
  }
}
