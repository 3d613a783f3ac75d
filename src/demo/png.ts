/**
 * A tiny PNG writer (8-bit RGB, one IDAT chunk compressed with node:zlib) and a rasterizer for the
 * demo's line charts: anti-aliased lines, bands, grid, and a built-in 5×7 bitmap font for labels
 * (upper-case letters, digits and a few symbols; lower-case is drawn as upper-case). No network, no
 * fonts on disk.
 */
import { deflateSync } from 'node:zlib';
import { formatTick, layoutChart, segments, type ChartSpec } from './charts.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, the one PNG uses). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encode an RGB image (`width·height·3` bytes, row-major) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError(`gprl: invalid rgb: expected ${width * height * 3} bytes, got ${rgb.length}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // color type: RGB
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

/** 5×7 glyphs, one row per entry, 5 bits each (MSB = left column). */
const FONT: Record<string, readonly number[]> = (() => {
  const g: Record<string, string> = {
    A: '01110 10001 10001 11111 10001 10001 10001', B: '11110 10001 10001 11110 10001 10001 11110',
    C: '01110 10001 10000 10000 10000 10001 01110', D: '11110 10001 10001 10001 10001 10001 11110',
    E: '11111 10000 10000 11110 10000 10000 11111', F: '11111 10000 10000 11110 10000 10000 10000',
    G: '01110 10001 10000 10111 10001 10001 01111', H: '10001 10001 10001 11111 10001 10001 10001',
    I: '01110 00100 00100 00100 00100 00100 01110', J: '00111 00010 00010 00010 00010 10010 01100',
    K: '10001 10010 10100 11000 10100 10010 10001', L: '10000 10000 10000 10000 10000 10000 11111',
    M: '10001 11011 10101 10101 10001 10001 10001', N: '10001 10001 11001 10101 10011 10001 10001',
    O: '01110 10001 10001 10001 10001 10001 01110', P: '11110 10001 10001 11110 10000 10000 10000',
    Q: '01110 10001 10001 10001 10101 10010 01101', R: '11110 10001 10001 11110 10100 10010 10001',
    S: '01111 10000 10000 01110 00001 00001 11110', T: '11111 00100 00100 00100 00100 00100 00100',
    U: '10001 10001 10001 10001 10001 10001 01110', V: '10001 10001 10001 10001 10001 01010 00100',
    W: '10001 10001 10001 10101 10101 10101 01010', X: '10001 10001 01010 00100 01010 10001 10001',
    Y: '10001 10001 01010 00100 00100 00100 00100', Z: '11111 00001 00010 00100 01000 10000 11111',
    '0': '01110 10001 10011 10101 11001 10001 01110', '1': '00100 01100 00100 00100 00100 00100 01110',
    '2': '01110 10001 00001 00010 00100 01000 11111', '3': '11111 00010 00100 00010 00001 10001 01110',
    '4': '00010 00110 01010 10010 11111 00010 00010', '5': '11111 10000 11110 00001 00001 10001 01110',
    '6': '00110 01000 10000 11110 10001 10001 01110', '7': '11111 00001 00010 00100 01000 01000 01000',
    '8': '01110 10001 10001 01110 10001 10001 01110', '9': '01110 10001 10001 01111 00001 00010 01100',
    '.': '00000 00000 00000 00000 00000 01100 01100', '-': '00000 00000 00000 11111 00000 00000 00000',
    '%': '11000 11001 00010 00100 01000 10011 00011', '+': '00000 00100 00100 11111 00100 00100 00000',
    '(': '00010 00100 01000 01000 01000 00100 00010', ')': '01000 00100 00010 00010 00010 00100 01000',
    '/': '00000 00001 00010 00100 01000 10000 00000', ':': '00000 01100 01100 00000 01100 01100 00000',
    ',': '00000 00000 00000 00000 01100 00100 01000', '=': '00000 00000 11111 00000 11111 00000 00000',
    '×': '00000 10001 01010 00100 01010 10001 00000', '_': '00000 00000 00000 00000 00000 00000 11111',
    ' ': '00000 00000 00000 00000 00000 00000 00000',
  };
  const out: Record<string, number[]> = {};
  for (const [ch, rows] of Object.entries(g)) out[ch] = rows.split(' ').map((r) => parseInt(r, 2));
  return out;
})();

/** An RGB canvas with alpha-blended drawing. */
export class Canvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: [number, number, number] = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  blend(x: number, y: number, c: readonly [number, number, number], a: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || !(a > 0)) return;
    const i = (y * this.width + x) * 3;
    const w = Math.min(1, a);
    for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(this.data[i + k]! * (1 - w) + c[k]! * w);
  }

  fillRect(x: number, y: number, w: number, h: number, c: readonly [number, number, number], a = 1): void {
    for (let yy = Math.max(0, Math.floor(y)); yy < Math.min(this.height, Math.ceil(y + h)); yy++) {
      for (let xx = Math.max(0, Math.floor(x)); xx < Math.min(this.width, Math.ceil(x + w)); xx++) this.blend(xx, yy, c, a);
    }
  }

  /** Anti-aliased segment of the given width (coverage from the distance to the segment). */
  line(x0: number, y0: number, x1: number, y1: number, c: readonly [number, number, number], width = 1.5, alpha = 1): void {
    const r = width / 2;
    const minX = Math.floor(Math.min(x0, x1) - r - 1);
    const maxX = Math.ceil(Math.max(x0, x1) + r + 1);
    const minY = Math.floor(Math.min(y0, y1) - r - 1);
    const maxY = Math.ceil(Math.max(y0, y1) + r + 1);
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    for (let y = minY; y <= maxY; y++) {
      for (let x = minX; x <= maxX; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        const t = len2 > 0 ? Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / len2)) : 0;
        const d = Math.hypot(px - (x0 + t * dx), py - (y0 + t * dy));
        const cov = Math.max(0, Math.min(1, r + 0.5 - d));
        // Joints of a polyline are blended twice, which only darkens them slightly.
        if (cov > 0) this.blend(x, y, c, cov * alpha);
      }
    }
  }

  /** Text in the 5×7 font, `scale` pixels per font pixel; returns the width drawn. */
  text(x: number, y: number, s: string, c: readonly [number, number, number], scale = 1): number {
    let cx = Math.round(x);
    for (const ch0 of s) {
      const ch = ch0.toUpperCase();
      const glyph = FONT[ch] ?? FONT['_']!;
      for (let row = 0; row < 7; row++) {
        const bits = glyph[row]!;
        for (let col = 0; col < 5; col++) {
          if (bits & (1 << (4 - col))) this.fillRect(cx + col * scale, Math.round(y) + row * scale, scale, scale, c);
        }
      }
      cx += 6 * scale;
    }
    return cx - x;
  }

  static textWidth(s: string, scale = 1): number {
    return [...s].length * 6 * scale;
  }

  /** Text rotated 90° counter-clockwise (for the y-axis label), centered vertically at `cy`. */
  textVertical(x: number, cy: number, s: string, c: readonly [number, number, number], scale = 1): void {
    const w = Canvas.textWidth(s, scale);
    let yy = Math.round(cy + w / 2);
    for (const ch0 of s) {
      const glyph = FONT[ch0.toUpperCase()] ?? FONT['_']!;
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (glyph[row]! & (1 << (4 - col))) this.fillRect(x + row * scale, yy - (col + 1) * scale, scale, scale, c);
        }
      }
      yy -= 6 * scale;
    }
  }

  toPng(): Buffer {
    return encodePng(this.width, this.height, this.data);
  }
}

export function hexColor(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return [0, 0, 0];
  const v = parseInt(m[1]!, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Rasterize a chart (same layout as the SVG) at `scale`× resolution. */
export function chartPng(spec: ChartSpec, scale = 2): Buffer {
  const L = layoutChart(spec);
  const W = L.width * scale;
  const H = L.height * scale;
  const cv = new Canvas(W, H);
  const sx = (x: number): number => L.sx(x) * scale;
  const sy = (y: number): number => L.sy(y) * scale;
  const pr = (L.width - L.right) * scale;
  const pb = (L.height - L.bottom) * scale;
  const left = L.left * scale;
  const top = L.top * scale;
  const ink: [number, number, number] = [34, 34, 34];
  const grey: [number, number, number] = [90, 90, 90];
  const fs = scale; // font pixel size
  cv.text(left, 8 * scale, spec.title, ink, fs + 1);
  for (const t of L.yTicks) {
    const y = sy(t);
    if (y < top - 1 || y > pb + 1) continue;
    cv.line(left, y, pr, y, [229, 229, 229], scale);
    const label = formatTick(t);
    cv.text(left - 6 * scale - Canvas.textWidth(label, fs), y - 3.5 * fs, label, grey, fs);
  }
  for (const t of L.xTicks) {
    const x = sx(t);
    if (x < left - 1 || x > pr + 1) continue;
    cv.line(x, top, x, pb, [240, 240, 240], scale);
    const label = formatTick(t);
    cv.text(x - Canvas.textWidth(label, fs) / 2, pb + 6 * scale, label, grey, fs);
  }
  const frame: [number, number, number] = [136, 136, 136];
  cv.line(left, top, pr, top, frame, scale);
  cv.line(left, pb, pr, pb, frame, scale);
  cv.line(left, top, left, pb, frame, scale);
  cv.line(pr, top, pr, pb, frame, scale);
  cv.text((left + pr) / 2 - Canvas.textWidth(spec.xLabel, fs) / 2, H - 18 * scale, spec.xLabel, ink, fs);
  cv.textVertical(8 * scale, (top + pb) / 2, spec.yLabel, ink, fs);
  if (spec.yRef !== undefined) {
    const y = sy(spec.yRef);
    for (let x = left; x < pr; x += 5 * scale) cv.line(x, y, Math.min(pr, x + 2 * scale), y, [153, 153, 153], scale);
  }
  for (const m of spec.markers ?? []) {
    const x = sx(m.x);
    cv.line(x, top, x, pb, hexColor(m.color), scale, 0.35);
  }
  for (const s of spec.series) {
    const c = hexColor(s.color);
    if (s.band && s.band.length > 1) {
      // Fill the band column by column, interpolating low/high between neighbouring points.
      const b = s.band.filter(([x, lo, hi]) => Number.isFinite(x) && Number.isFinite(lo) && Number.isFinite(hi));
      for (let i = 0; i + 1 < b.length; i++) {
        const [xa, la, ha] = b[i]!;
        const [xb, lb, hb] = b[i + 1]!;
        const pa = sx(xa);
        const pb2 = sx(xb);
        for (let px = Math.ceil(pa); px < Math.ceil(pb2); px++) {
          const t = pb2 > pa ? (px - pa) / (pb2 - pa) : 0;
          const yl = sy(la + t * (lb - la));
          const yh = sy(ha + t * (hb - ha));
          cv.fillRect(px, Math.min(yl, yh), 1, Math.abs(yl - yh), c, 0.08);
        }
      }
    }
    for (const seg of segments(s.points)) {
      if (seg.length === 1) {
        cv.fillRect(sx(seg[0]![0]) - 2 * scale, sy(seg[0]![1]) - 2 * scale, 4 * scale, 4 * scale, c);
        continue;
      }
      // Dashes follow the whole polyline (the phase carries over from one segment to the next).
      const dash = 6 * scale;
      let phase = 0;
      for (let i = 0; i + 1 < seg.length; i++) {
        const [xa, ya] = seg[i]!;
        const [xb, yb] = seg[i + 1]!;
        if (s.dashed) {
          const ax = sx(xa), ay = sy(ya), bx = sx(xb), by = sy(yb);
          const len = Math.hypot(bx - ax, by - ay);
          let d = 0;
          while (d < len) {
            const inDash = phase % (2 * dash) < dash;
            const step = Math.min(len - d, dash - (phase % dash));
            if (inDash && len > 0) {
              const t0 = d / len;
              const t1 = (d + step) / len;
              cv.line(ax + t0 * (bx - ax), ay + t0 * (by - ay), ax + t1 * (bx - ax), ay + t1 * (by - ay), c, 2 * scale);
            }
            d += step;
            phase += step;
          }
        } else {
          cv.line(sx(xa), sy(ya), sx(xb), sy(yb), c, 2 * scale);
        }
      }
    }
  }
  spec.series.forEach((s, i) => {
    const y = top + (8 + i * 18) * scale;
    const lc = hexColor(s.color);
    if (s.dashed) {
      cv.line(pr + 12 * scale, y, pr + 20 * scale, y, lc, 2 * scale);
      cv.line(pr + 28 * scale, y, pr + 36 * scale, y, lc, 2 * scale);
    } else {
      cv.line(pr + 12 * scale, y, pr + 36 * scale, y, lc, 2 * scale);
    }
    cv.text(pr + 42 * scale, y - 3.5 * fs, s.name, ink, fs);
  });
  return cv.toPng();
}
