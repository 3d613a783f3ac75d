/**
 * Shared by the kill tests and their child processes: the weights of save number `id`, different
 * in every value from those of any other save, so a load can be matched to exactly one save.
 */

/** The values of variable number `index` (of `size` values) in save `id`. */
export function saveValues(id: number, index: number, size: number): Float32Array {
  const out = new Float32Array(size);
  let h = (Math.imul(id, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  for (let j = 0; j < size; j++) {
    h = (h + 0x6d2b79f5) >>> 0;
    let z = h;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    // id in the integer part keeps saves apart even where the hash collides.
    out[j] = id + ((z ^ (z >>> 14)) >>> 0) / 2 ** 33;
  }
  return out;
}
