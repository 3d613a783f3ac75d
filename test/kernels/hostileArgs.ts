/**
 * Builders of hostile arguments shared by hostile.test.ts, fuzz.test.ts and the child-process script
 * fixtures/asyncResize.ts: arrays over resizable, growable or detached buffers, Proxies, DataViews,
 * and getters that change their answer. (Node 20's TypeScript lib has no types for resizable
 * buffers, hence the casts.)
 */

type ResizableCtor = new (byteLength: number, options: { maxByteLength: number }) => ArrayBuffer;
type GrowableCtor = new (byteLength: number, options: { maxByteLength: number }) => SharedArrayBuffer;

export type AnyArray = Float32Array | Uint8Array;

function sameKind<T extends AnyArray>(src: T, buffer: ArrayBufferLike, length?: number): T {
  const Ctor = src instanceof Float32Array ? Float32Array : Uint8Array;
  const b = buffer as ArrayBuffer;
  const out = length === undefined ? new Ctor(b) : new Ctor(b, 0, length);
  out.set(src);
  return out as T;
}

/**
 * A copy of `src` over a resizable ArrayBuffer (`maxByteLength` = its size). `tracking`: a
 * length-tracking view (no explicit length), else a fixed-length view.
 */
export function resizableCopy<T extends AnyArray>(src: T, tracking = false): T {
  const buffer = new (ArrayBuffer as unknown as ResizableCtor)(src.byteLength, { maxByteLength: src.byteLength });
  return sameKind(src, buffer, tracking ? undefined : src.length);
}

/** A copy of `src` over a growable SharedArrayBuffer (room to double). */
export function growableCopy<T extends AnyArray>(src: T): T {
  const buffer = new (SharedArrayBuffer as unknown as GrowableCtor)(src.byteLength, { maxByteLength: 2 * src.byteLength + 8 });
  return sameKind(src, buffer, src.length);
}

/** Shrink the resizable buffer under `arr` to 0 bytes (no-op for any other buffer). */
export function shrink(arr: ArrayBufferView): void {
  const buffer = arr.buffer as ArrayBuffer & { resizable?: boolean; resize?: (n: number) => void };
  if (buffer.resizable === true && buffer.resize) buffer.resize(0);
}

/** Detach the buffer of `arr` (transfer it away); `arr` then has length 0. */
export function detach(arr: ArrayBufferView): void {
  const buffer = arr.buffer as ArrayBuffer;
  structuredClone(buffer, { transfer: [buffer] });
}

/** A copy of `src` whose buffer has been detached. */
export function detachedCopy<T extends AnyArray>(src: T): T {
  const out = src.slice() as T;
  detach(out);
  return out;
}

/** A transparent Proxy around `target`. */
export function proxyOf<T extends object>(target: T): T {
  return new Proxy(target, {});
}

/** A revoked Proxy (every operation on it throws). */
export function revokedProxy<T extends object>(target: T): T {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

/** A DataView over the bytes of `src`. */
export function dataViewOf(src: ArrayBufferView, detached = false): DataView {
  const copy = new Uint8Array(src.byteLength);
  copy.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  const view = new DataView(copy.buffer);
  if (detached) detach(copy);
  return view;
}

/**
 * Define `key` on `target` as a getter that returns `first` on its first read and `later`
 * afterwards; returns a function giving the number of reads so far.
 */
export function flakyGetter(target: object, key: string, first: unknown, later: unknown): () => number {
  let reads = 0;
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get() {
      reads++;
      return reads === 1 ? first : later;
    },
  });
  return () => reads;
}

/** Define `key` on `target` as a getter that throws. */
export function throwingGetter(target: object, key: string, message = 'boom'): void {
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get() {
      throw new Error(message);
    },
  });
}

/** The argument named by a `gprl:` validation error (`gprl: invalid <name>: …`), or null. */
export function namedArgument(err: unknown): string | null {
  if (!(err instanceof TypeError || err instanceof RangeError)) return null;
  const m = /^gprl: invalid (.+?): expected /.exec(err.message);
  return m ? m[1]! : null;
}
