/**
 * A seeded pseudo-random sequence in [0, 1) (a linear congruential generator), for tests that draw their
 * schedule at random: print the seed, and a failing run can be repeated with it.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
