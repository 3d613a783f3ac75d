/** Strict UTF-8 decoding, shared by the file readers. */

/** Decode UTF-8 strictly: a damaged byte sequence is an error, not U+FFFD. A byte order mark is kept (callers decide). */
export function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
}
