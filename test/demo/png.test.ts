import { describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { chartPng, crc32, encodePng } from '../../src/demo/png.js';
import { chartSvg } from '../../src/demo/charts.js';

function chunks(png: Buffer): { type: string; data: Buffer; crcOk: boolean }[] {
  const out = [];
  let o = 8;
  while (o < png.length) {
    const len = png.readUInt32BE(o);
    const type = png.toString('ascii', o + 4, o + 8);
    const data = png.subarray(o + 8, o + 8 + len);
    const crc = png.readUInt32BE(o + 8 + len);
    out.push({ type, data, crcOk: crc === crc32(png.subarray(o + 4, o + 8 + len)) });
    o += 12 + len;
  }
  return out;
}

describe('PNG writer', () => {
  it('computes the standard CRC-32 check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('encodes pixels that decode back', () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const png = encodePng(2, 2, rgb);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const cs = chunks(png);
    expect(cs.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(cs.every((c) => c.crcOk)).toBe(true);
    expect(cs[0]!.data.readUInt32BE(0)).toBe(2);
    expect(cs[0]!.data.readUInt32BE(4)).toBe(2);
    const raw = inflateSync(cs[1]!.data);
    // Each row: filter byte 0, then the row's RGB bytes.
    expect(Array.from(raw)).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 10, 20, 30]);
    expect(() => encodePng(2, 2, new Uint8Array(5))).toThrow(RangeError);
  });

  it('rasterizes a chart and draws it as SVG', () => {
    const spec = {
      title: 'Win rate',
      xLabel: 'step',
      yLabel: 'win rate',
      yRef: 0.5,
      series: [{ name: 'a', color: '#0072b2', points: [[0, 0.5], [10, 0.7], [20, Number.NaN], [30, 0.6]] as [number, number][] }],
      markers: [{ x: 10, color: '#d55e00', label: 'drift' }],
    };
    const png = chartPng(spec, 1);
    const cs = chunks(png);
    expect(cs[0]!.data.readUInt32BE(0)).toBe(800);
    const raw = inflateSync(cs[1]!.data);
    expect(raw.length).toBe((800 * 3 + 1) * 360);
    // Some pixels carry the series color's blue channel dominance (the line was drawn).
    let blueish = 0;
    for (let y = 0; y < 360; y++) for (let x = 0; x < 800; x++) {
      const i = y * (800 * 3 + 1) + 1 + x * 3;
      if (raw[i + 2]! > 150 && raw[i]! < 60) blueish++;
    }
    expect(blueish).toBeGreaterThan(100);
    const svg = chartSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('<polyline');
    expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });
});
