/**
 * `each` over `items`, at most `width` at a time, the answers in the items' order: a list read
 * item by item (a catalog's clusters, its services) keeps a few requests in flight, not one per
 * item at once (thousands of sockets and promises that starve the event loop).
 */
export async function mapAtMost<T, R>(items: readonly T[], width: number, each: (item: T) => Promise<R>): Promise<R[]> {
  const answers: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      answers[i] = await each(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return answers;
}
