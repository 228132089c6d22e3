// The image viewer: the radiograph on a canvas with zoom (wheel, buttons) and pan (shift-drag, or any
// drag for PNG/JPEG), window/level by dragging for DICOM, the 29 regions drawn as boxes and named on
// hover, and a finding's regions lit by their attention scores.

import type { RegionBox } from "./protocol.ts";

export interface Highlight {
  /** Attention over the 29 regions. */
  scores: number[];
  /** The region the finding's position names. */
  own: number;
}

export class Viewer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly source = document.createElement("canvas");
  private hasImage = false;
  private regions: RegionBox[] = [];
  private hovered: number | null = null;
  private highlight: Highlight | null = null;
  private zoom = 1;
  private pan = { x: 0, y: 0 };
  private drag: { x: number; y: number; mode: "pan" | "window" } | null = null;
  /** Set for DICOM: called with the drag's movement in canvas pixels. */
  onWindowDrag: ((dx: number, dy: number) => void) | null = null;

  constructor(private readonly canvas: HTMLCanvasElement, private readonly tooltip: HTMLElement) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2D canvas");
    this.ctx = ctx;
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    canvas.addEventListener("pointermove", (e) => this.onMove(e));
    canvas.addEventListener("pointerup", () => (this.drag = null));
    canvas.addEventListener("pointercancel", () => (this.drag = null));
    canvas.addEventListener("pointerleave", () => this.setHover(null));
  }

  setImage(rgba: ArrayBuffer, width: number, height: number): void {
    this.source.width = width;
    this.source.height = height;
    this.source.getContext("2d")?.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
    this.hasImage = true;
    this.draw();
  }

  /** New pixels for the same image (window/level): keeps zoom, pan and overlays. */
  updatePixels(rgba: ArrayBuffer): void {
    if (!this.hasImage) return;
    this.source.getContext("2d")?.putImageData(new ImageData(new Uint8ClampedArray(rgba), this.source.width, this.source.height), 0, 0);
    this.draw();
  }

  setRegions(regions: RegionBox[]): void {
    this.regions = regions;
    this.canvas.dataset.regions = String(regions.length);
    this.draw();
  }

  setHighlight(h: Highlight | null): void {
    this.highlight = h;
    this.draw();
  }

  resetView(): void {
    this.zoom = 1;
    this.pan = { x: 0, y: 0 };
    this.draw();
  }

  zoomBy(factor: number): void {
    this.zoom = Math.min(16, Math.max(0.25, this.zoom * factor));
    this.draw();
  }

  /** Image rectangle on the canvas, in canvas pixels. */
  private placement(): { x: number; y: number; w: number; h: number } {
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    const fit = Math.min(cw / this.source.width, ch / this.source.height) * this.zoom;
    const w = this.source.width * fit;
    const h = this.source.height * fit;
    return { x: (cw - w) / 2 + this.pan.x, y: (ch - h) / 2 + this.pan.y, w, h };
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(this.canvas.clientWidth * dpr);
    const h = Math.round(this.canvas.clientHeight * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const ctx = this.ctx;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, w, h);
    if (!this.hasImage) return;
    const p = this.placement();
    ctx.imageSmoothingEnabled = this.zoom < 2;
    ctx.drawImage(this.source, p.x, p.y, p.w, p.h);
    const rect = (b: RegionBox) => [p.x + b.bbox[0] * p.w, p.y + b.bbox[1] * p.h, (b.bbox[2] - b.bbox[0]) * p.w, (b.bbox[3] - b.bbox[1]) * p.h] as const;
    ctx.lineWidth = Math.max(1, dpr);
    const font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;

    if (this.highlight) {
      const max = Math.max(1e-6, ...this.highlight.scores);
      for (const b of this.regions) {
        const s = this.highlight.scores[b.index] ?? 0;
        ctx.fillStyle = `rgba(255, 120, 0, ${(0.55 * s) / max})`;
        ctx.fillRect(...rect(b));
      }
      const top = [...this.regions].sort((a, b) => (this.highlight!.scores[b.index] ?? 0) - (this.highlight!.scores[a.index] ?? 0)).slice(0, 3);
      ctx.font = font;
      for (const b of top) this.label(b.name + " " + (this.highlight.scores[b.index] ?? 0).toFixed(2), rect(b)[0], rect(b)[1]);
    }
    for (const b of this.regions) {
      const own = this.highlight?.own === b.index;
      ctx.strokeStyle = own ? "#ffd400" : b.index === this.hovered ? "#fff" : "rgba(0, 220, 255, 0.45)";
      ctx.lineWidth = (own || b.index === this.hovered ? 2.5 : 1) * dpr;
      ctx.strokeRect(...rect(b));
    }
    if (this.hovered !== null) {
      const b = this.regions[this.hovered];
      if (b) {
        ctx.font = font;
        this.label(b.name, rect(b)[0], rect(b)[1] + rect(b)[3]);
      }
    }
  }

  private label(text: string, x: number, y: number): void {
    const ctx = this.ctx;
    const m = ctx.measureText(text);
    const pad = 3;
    const height = parseInt(ctx.font, 10) + 2 * pad;
    const top = Math.max(0, y - height);
    ctx.fillStyle = "rgba(0,0,0,0.7)";
    ctx.fillRect(x, top, m.width + 2 * pad, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + pad, top + height - pad - 2);
  }

  /** The smallest region under a canvas point (regions nest: a zone sits inside its lung). */
  private regionAt(cx: number, cy: number): number | null {
    const p = this.placement();
    const u = (cx - p.x) / p.w;
    const v = (cy - p.y) / p.h;
    let best: RegionBox | null = null;
    let bestArea = Infinity;
    for (const b of this.regions) {
      const [x0, y0, x1, y1] = b.bbox;
      if (u >= x0 && u <= x1 && v >= y0 && v <= y1) {
        const area = (x1 - x0) * (y1 - y0);
        if (area < bestArea) {
          best = b;
          bestArea = area;
        }
      }
    }
    return best ? best.index : null;
  }

  private setHover(index: number | null): void {
    if (index === this.hovered) return;
    this.hovered = index;
    const name = index === null ? "" : this.regions[index]?.name ?? "";
    this.tooltip.textContent = name ? `region: ${name}` : "";
    this.canvas.dataset.hover = name;
    this.draw();
  }

  private point(e: PointerEvent | WheelEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    return { x: (e.clientX - r.left) * dpr, y: (e.clientY - r.top) * dpr };
  }

  private onWheel(e: WheelEvent): void {
    if (!this.hasImage) return;
    e.preventDefault();
    const before = this.placement();
    const { x, y } = this.point(e);
    const u = (x - before.x) / before.w;
    const v = (y - before.y) / before.h;
    this.zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15);
    const after = this.placement();
    this.pan.x += x - (after.x + u * after.w);
    this.pan.y += y - (after.y + v * after.h);
    this.draw();
  }

  private onDown(e: PointerEvent): void {
    if (!this.hasImage) return;
    this.canvas.setPointerCapture(e.pointerId);
    const mode = this.onWindowDrag && !e.shiftKey && e.button === 0 ? "window" : "pan";
    this.drag = { ...this.point(e), mode };
  }

  private onMove(e: PointerEvent): void {
    const pt = this.point(e);
    if (!this.drag) {
      this.setHover(this.regionAt(pt.x, pt.y));
      return;
    }
    const dx = pt.x - this.drag.x;
    const dy = pt.y - this.drag.y;
    this.drag.x = pt.x;
    this.drag.y = pt.y;
    if (this.drag.mode === "window") {
      this.onWindowDrag?.(dx, dy);
    } else {
      this.pan.x += dx;
      this.pan.y += dy;
      this.draw();
    }
  }
}
