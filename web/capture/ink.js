// The signature pad: raw samples from Pointer Events (coalesced samples kept), ink drawn smoothly
// from them. The samples are what is sent; the smoothed curve is only what the signer sees.

const INK = "#14245c";
// Contact size (CSS px) above which a touch is taken for a palm, not a fingertip.
const PALM_CONTACT_PX = 40;

// Stroke width in CSS px. A pen's width follows its pressure; other pointers draw a steady line.
function widthFor(pointerType, pressure) {
  if (pointerType === "pen") return 0.8 + 3.4 * Math.min(1, Math.max(0, pressure));
  return 2.4;
}

function sampleOf(event, rect, frame) {
  // The frame is the capture area's size when capture began; if the element has been resized
  // since (rotation), positions are scaled back into that frame so that every sample of one
  // capture shares one coordinate system.
  const sx = frame.width / rect.width;
  const sy = frame.height / rect.height;
  return {
    t: event.timeStamp,
    x: Math.min(frame.width, Math.max(0, (event.clientX - rect.left) * sx)),
    y: Math.min(frame.height, Math.max(0, (event.clientY - rect.top) * sy)),
    p: event.pressure,
    tiltX: event.tiltX,
    tiltY: event.tiltY,
  };
}

export class SignaturePad {
  constructor(canvas, { onChange = () => {} } = {}) {
    this.canvas = canvas;
    this.onChange = onChange;
    this.enabled = false;
    this.strokes = [];
    this.pointerType = null;
    this.frame = null;
    this.active = null; // {id, samples, rect} while a pointer is down
    this.context = canvas.getContext("2d");
    this.resize();
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    canvas.addEventListener("lostpointercapture", (e) => this.up(e));
    // Where pointer capture was refused, the lift may happen outside the pad.
    window.addEventListener("pointerup", (e) => this.up(e));
    window.addEventListener("pointercancel", (e) => this.up(e));
    // No context menu, selection or drag on long presses inside the pad.
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  get sampleCount() {
    return this.strokes.reduce((sum, stroke) => sum + stroke.length, 0);
  }

  isEmpty() {
    return this.strokes.length === 0;
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    this.canvas.classList.toggle("disabled", !enabled);
    if (!enabled) this.active = null;
  }

  clear() {
    this.strokes = [];
    this.pointerType = null;
    this.active = null;
    this.startedAt = null;
    this.frame = this.currentSize();
    this.redraw();
    this.changed();
  }

  // What sigdata/1 is built from.
  capture() {
    return {
      width: this.frame.width,
      height: this.frame.height,
      pointerType: this.pointerType,
      devicePixelRatio: window.devicePixelRatio || 1,
      startedAt: this.startedAt,
      strokes: this.strokes,
    };
  }

  currentSize() {
    const rect = this.canvas.getBoundingClientRect();
    return { width: rect.width, height: rect.height };
  }

  resize() {
    const size = this.currentSize();
    if (size.width === 0 || size.height === 0) return;
    if (!this.frame || this.isEmpty()) this.frame = size;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(size.width * ratio);
    this.canvas.height = Math.round(size.height * ratio);
    this.redraw();
  }

  // Whether this pointer may draw now. One pointer at a time (a second finger is ignored), and a
  // pen outranks touch: a palm resting on the screen is a touch, so while a capture is made with
  // a pen every touch is ignored, and a pen arriving after touches replaces them.
  accepts(event) {
    if (!this.enabled || this.active) return false;
    // sigdata/1 knows these three; anything else a browser might report cannot be sent.
    if (!["pen", "touch", "mouse"].includes(event.pointerType)) return false;
    // A palm's contact is far larger than a fingertip's.
    if (event.pointerType === "touch" && Math.max(event.width, event.height) > PALM_CONTACT_PX) {
      return false;
    }
    if (event.pointerType === "mouse" && event.button !== 0) return false;
    if (this.pointerType && this.pointerType !== event.pointerType) {
      if (event.pointerType === "pen" && this.pointerType === "touch") {
        this.strokes = [];
        this.pointerType = null;
        this.startedAt = null;
        this.redraw();
        return true;
      }
      return false;
    }
    return true;
  }

  down(event) {
    if (!this.accepts(event)) return;
    event.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    if (this.isEmpty()) {
      this.frame = { width: rect.width, height: rect.height };
      this.startedAt = new Date(performance.timeOrigin + event.timeStamp).toISOString();
    }
    this.pointerType = event.pointerType;
    try {
      this.canvas.setPointerCapture(event.pointerId);
    } catch {
      // Synthetic or already released pointers cannot be captured; moves still arrive while
      // the pointer is over the pad.
    }
    const sample = sampleOf(event, rect, this.frame);
    this.active = { id: event.pointerId, rect, samples: [sample] };
    this.strokes.push(this.active.samples);
    this.drawDot(sample);
    this.changed();
  }

  move(event) {
    if (!this.active || event.pointerId !== this.active.id) return;
    event.preventDefault();
    // Between two frames the browser merges moves into one event; the merged ones are the
    // device's real samples, and a signature's dynamics live in them.
    const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    const events = coalesced.length > 0 ? coalesced : [event];
    const samples = this.active.samples;
    for (const raw of events) {
      const sample = sampleOf(raw, this.active.rect, this.frame);
      samples.push(sample);
      this.drawSegment(samples, samples.length - 1);
    }
    this.changed();
  }

  up(event) {
    if (!this.active || event.pointerId !== this.active.id) return;
    // The pen-up event only reports the lift (pressure 0 at the last position): the stroke is
    // the samples taken while the pointer was down.
    this.drawTail(this.active.samples);
    this.active = null;
    this.changed();
  }

  changed() {
    this.canvas.dataset.samples = String(this.sampleCount);
    this.canvas.dataset.strokes = String(this.strokes.length);
    this.onChange(this);
  }

  // Drawing. The canvas is scaled so that drawing happens in the frame's CSS px.
  prepare(context, scaleX, scaleY) {
    context.setTransform(scaleX, 0, 0, scaleY, 0, 0);
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = INK;
    context.fillStyle = INK;
  }

  scale(canvas) {
    return [canvas.width / this.frame.width, canvas.height / this.frame.height];
  }

  drawDot(sample, context = this.context, canvas = this.canvas) {
    this.prepare(context, ...this.scale(canvas));
    context.beginPath();
    context.arc(sample.x, sample.y, widthFor(this.pointerType, sample.p) / 2, 0, 2 * Math.PI);
    context.fill();
  }

  // The segment ending at samples[i], as a quadratic curve through the midpoints of consecutive
  // samples: smooth ink with no corners, and every segment drawn once, as samples arrive.
  drawSegment(samples, i, context = this.context, canvas = this.canvas) {
    if (i < 1) return;
    const a = samples[Math.max(0, i - 2)];
    const b = samples[i - 1];
    const c = samples[i];
    const start = i === 1 ? b : { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    const end = { x: (b.x + c.x) / 2, y: (b.y + c.y) / 2 };
    this.prepare(context, ...this.scale(canvas));
    context.lineWidth = widthFor(this.pointerType, (b.p + c.p) / 2);
    context.beginPath();
    context.moveTo(start.x, start.y);
    context.quadraticCurveTo(b.x, b.y, end.x, end.y);
    context.stroke();
  }

  // The last half segment, from the last midpoint to the last sample, once the stroke has ended.
  drawTail(samples, context = this.context, canvas = this.canvas) {
    if (samples.length < 2) return;
    const b = samples[samples.length - 2];
    const c = samples[samples.length - 1];
    this.prepare(context, ...this.scale(canvas));
    context.lineWidth = widthFor(this.pointerType, c.p);
    context.beginPath();
    context.moveTo((b.x + c.x) / 2, (b.y + c.y) / 2);
    context.lineTo(c.x, c.y);
    context.stroke();
  }

  draw(context, canvas) {
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (!this.frame) return;
    for (const samples of this.strokes) {
      this.drawDot(samples[0], context, canvas);
      for (let i = 1; i < samples.length; i++) this.drawSegment(samples, i, context, canvas);
      if (samples !== this.active?.samples) this.drawTail(samples, context, canvas);
    }
  }

  redraw() {
    this.draw(this.context, this.canvas);
  }

  // The ink as a PNG data URL, transparent background, drawn at `ratio` image pixels per CSS px
  // (at most 4096 px a side, the API's bound).
  toPng(ratio) {
    const scale = Math.min(ratio, 4096 / this.frame.width, 4096 / this.frame.height);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(this.frame.width * scale));
    canvas.height = Math.max(1, Math.round(this.frame.height * scale));
    this.draw(canvas.getContext("2d"), canvas);
    return canvas.toDataURL("image/png");
  }
}
