/**
 * A count of the work the engine and the loader have done (flat-view rendering steps,
 * translations and their hops, parsed values converted), for tests that bound the work an input
 * can cause by counting steps rather than timing them. Counting is a plain addition; nothing
 * reads it on a hot path.
 */
let work = 0;

export function addWork(n: number): void {
  work += n;
}

export function workDone(): number {
  return work;
}
