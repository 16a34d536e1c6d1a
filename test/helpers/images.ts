import sharp from 'sharp';

/** Renders lines of printed text into a PNG (librsvg through sharp, with the system's DejaVu fonts). */
export async function renderText(lines: string[], opts: { width?: number; size?: number; rotate?: number } = {}): Promise<Buffer> {
  const size = opts.size ?? 40;
  const width = opts.width ?? 760;
  const height = lines.length * size * 2 + size;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const text = lines.map((l, i) => `<text x="30" y="${(i + 1) * size * 2}" font-family="DejaVu Sans" font-size="${size}" fill="black">${esc(l)}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>${text}</svg>`;
  let img = sharp(Buffer.from(svg));
  if (opts.rotate) img = sharp(await img.png().toBuffer()).rotate(opts.rotate);
  return img.png().toBuffer();
}

export const item = (png: Buffer, contentType = 'image/png') => ({ content_type: contentType, encoder: 'base64', data: png.toString('base64') });
