// arrays.ts - element access for indices that are in range by construction,
// under noUncheckedIndexedAccess: one checked place instead of `!` at each use.

/** a[i] for an index the caller knows is in range; a RangeError (never undefined) when it is not. */
export function at<T>(a: ArrayLike<T>, i: number): T {
  if (!(i >= 0 && i < a.length)) throw new RangeError(`index ${i} out of range (length ${a.length})`);
  return a[i] as T;
}

/** Pairs a[i] with b[i], for arrays that are equally long by construction (e.g. one answer per text). */
export function zip<A, B>(a: readonly A[], b: readonly B[]): [A, B][] {
  if (a.length !== b.length) throw new RangeError(`zip: ${a.length} and ${b.length} elements`);
  return a.map((x, i) => [x, b[i] as B]);
}
