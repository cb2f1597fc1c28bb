/**
 * Zoom and pan shared by several viewports showing images of the same size: the wheel
 * zooms about the cursor, dragging pans, and every canvas follows the same transform.
 */
export class PanZoom {
  private scale = 1;
  private tx = 0;
  private ty = 0;
  private width = 1;
  private height = 1;

  constructor(
    private readonly viewports: readonly HTMLElement[],
    private readonly canvases: readonly HTMLCanvasElement[],
    private readonly onChange: (scale: number) => void = () => undefined,
  ) {
    for (const vp of viewports) {
      vp.addEventListener(
        'wheel',
        (e) => {
          e.preventDefault();
          const rect = vp.getBoundingClientRect();
          this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
        },
        { passive: false },
      );
      let drag: { x: number; y: number; id: number } | null = null;
      vp.addEventListener('pointerdown', (e) => {
        drag = { x: e.clientX, y: e.clientY, id: e.pointerId };
        vp.setPointerCapture(e.pointerId);
        vp.classList.add('dragging');
      });
      vp.addEventListener('pointermove', (e) => {
        if (!drag || drag.id !== e.pointerId) return;
        this.tx += e.clientX - drag.x;
        this.ty += e.clientY - drag.y;
        drag = { ...drag, x: e.clientX, y: e.clientY };
        this.apply();
      });
      const end = (): void => {
        drag = null;
        vp.classList.remove('dragging');
      };
      vp.addEventListener('pointerup', end);
      vp.addEventListener('pointercancel', end);
      vp.addEventListener('dblclick', () => this.fit());
    }
  }

  setSize(width: number, height: number): void {
    if (width === this.width && height === this.height) return;
    this.width = width;
    this.height = height;
    this.fit();
  }

  /** Whole image visible, centred. */
  fit(): void {
    const vp = this.viewports[0];
    if (!vp) return;
    const w = vp.clientWidth || 512;
    const h = vp.clientHeight || 512;
    this.scale = Math.min(w / this.width, h / this.height);
    this.tx = (w - this.width * this.scale) / 2;
    this.ty = (h - this.height * this.scale) / 2;
    this.apply();
  }

  setScale(scale: number): void {
    const vp = this.viewports[0];
    this.zoomBy(scale / this.scale, (vp?.clientWidth ?? 0) / 2, (vp?.clientHeight ?? 0) / 2);
  }

  /** Zooms by `factor` keeping the viewport point (cx, cy) fixed (default: the centre). */
  zoomBy(factor: number, cx?: number, cy?: number): void {
    const vp = this.viewports[0];
    const x = cx ?? (vp?.clientWidth ?? 0) / 2;
    const y = cy ?? (vp?.clientHeight ?? 0) / 2;
    const next = Math.min(64, Math.max(0.02, this.scale * factor));
    const f = next / this.scale;
    this.tx = x - (x - this.tx) * f;
    this.ty = y - (y - this.ty) * f;
    this.scale = next;
    this.apply();
  }

  apply(): void {
    for (const c of this.canvases) c.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.onChange(this.scale);
  }
}
