//! Synthetic signatures, for the tool's `sample-signature`, the tests, the benchmarks and the demo:
//! a deterministic, seeded handwriting-like trajectory (a few cursive strokes left to right, with
//! loops, uneven speed, pen-up gaps, pressure and tilt) captured at a device's rate, and the PNG a
//! canvas would render from the same strokes. Not for the Lambda functions (feature `sample`).

use super::sigdata::{CaptureInfo, Document, Tag};
use super::{PointerType, Stroke};

/// How to capture: which pointer, at what rate, for how long, on what area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleOptions {
    pub seed: u64,
    pub pointer_type: PointerType,
    pub rate_hz: f64,
    pub seconds: f64,
    pub width: f64,
    pub height: f64,
}

impl SampleOptions {
    /// A pen on a tablet: 240 Hz, pressure and tilt, about ten seconds.
    pub fn pen(seed: u64) -> Self {
        Self {
            seed,
            pointer_type: PointerType::Pen,
            rate_hz: 240.0,
            seconds: 10.0,
            width: 600.0,
            height: 200.0,
        }
    }

    /// A finger on a phone: 60 Hz, no pressure or tilt.
    pub fn touch(seed: u64) -> Self {
        Self {
            pointer_type: PointerType::Touch,
            rate_hz: 60.0,
            seconds: 5.0,
            width: 360.0,
            height: 160.0,
            ..Self::pen(seed)
        }
    }

    /// A mouse: 125 Hz, whole pixels, no pressure or tilt.
    pub fn mouse(seed: u64) -> Self {
        Self {
            pointer_type: PointerType::Mouse,
            rate_hz: 125.0,
            seconds: 6.0,
            ..Self::pen(seed)
        }
    }
}

/// A request's two blobs: sigdata/1 JSON and a PNG of the same strokes.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSignature {
    pub biometric_data: Vec<u8>,
    pub png: Vec<u8>,
}

/// A pen signature (`SampleOptions::pen`) and its image.
pub fn pen_signature(seed: u64) -> SampleSignature {
    let document = document(&SampleOptions::pen(seed));
    SampleSignature {
        biometric_data: document.to_json(),
        png: render_png(&document),
    }
}

/// SplitMix64: small, seedable, and the same everywhere.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [low, high).
    fn between(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        low + (high - low) * unit
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

/// One stroke's shape: a run of cursive loops along the baseline.
struct Shape {
    x_start: f64,
    x_span: f64,
    baseline: f64,
    amplitude: f64,
    loops: f64,
    loop_width: f64,
    phase: f64,
    slope: f64,
}

impl Shape {
    fn at(&self, u: f64) -> (f64, f64) {
        let turn = std::f64::consts::TAU * self.loops * u + self.phase;
        let swell = 0.6 + 0.4 * (std::f64::consts::PI * u).sin();
        let x = self.x_start + self.x_span * u + self.loop_width * turn.sin() * swell;
        let y = self.baseline - self.amplitude * turn.cos() * swell + self.slope * (u - 0.5);
        (x, y)
    }
}

/// The capture, deterministic for its options.
pub fn document(options: &SampleOptions) -> Document {
    let mut random = Random(options.seed ^ 0x0005_eed0_fb10_5160);
    let strokes_wanted = 5 + (random.next() % 4) as usize;
    let durations: Vec<f64> = (0..strokes_wanted)
        .map(|_| random.between(0.6, 1.4))
        .collect();
    let gaps: Vec<f64> = (0..strokes_wanted)
        .map(|_| random.between(0.5, 1.5))
        .collect();
    let total_ms = options.seconds * 1000.0;
    let down_ms = total_ms * 0.85;
    let scale_down = down_ms / durations.iter().sum::<f64>();
    let scale_gap = (total_ms - down_ms) / gaps[1..].iter().sum::<f64>().max(1e-9);

    let margin = options.width * 0.06;
    let usable = options.width - 2.0 * margin;
    let mut x_cursor = margin;
    let mut t = 0.0;
    let interval = 1000.0 / options.rate_hz;
    let (pen, mouse) = (
        options.pointer_type == PointerType::Pen,
        options.pointer_type == PointerType::Mouse,
    );
    let coordinate = |v: f64, side: f64| {
        let v = v.clamp(1.0, side - 1.0);
        if mouse { v.round() } else { round_to(v, 1) }
    };
    let mut strokes = Vec::with_capacity(strokes_wanted);
    for (index, duration) in durations.iter().enumerate() {
        if index > 0 {
            t += gaps[index] * scale_gap;
        }
        let duration_ms = duration * scale_down;
        let x_span = usable * duration / durations.iter().sum::<f64>();
        let shape = Shape {
            x_start: x_cursor,
            x_span,
            baseline: options.height * random.between(0.5, 0.62),
            amplitude: options.height * random.between(0.12, 0.24),
            loops: random.between(1.5, 4.5),
            loop_width: x_span * random.between(0.06, 0.12),
            phase: random.between(0.0, std::f64::consts::TAU),
            slope: options.height * random.between(-0.08, 0.08),
        };
        x_cursor += x_span;
        let speed_phase = random.between(0.0, std::f64::consts::TAU);
        let start = t;
        let mut stroke = Stroke {
            p: pen.then(Vec::new),
            tilt_x: pen.then(Vec::new),
            tilt_y: pen.then(Vec::new),
            ..Stroke::default()
        };
        while t <= start + duration_ms {
            let tau = (t - start) / duration_ms;
            // Uneven speed, still always forward along the path.
            let u = (tau + 0.03 * (std::f64::consts::TAU * 3.0 * tau + speed_phase).sin())
                .clamp(0.0, 1.0);
            let (x, y) = shape.at(u);
            stroke.t.push(round_to(t, 1));
            stroke.x.push(coordinate(x, options.width));
            stroke.y.push(coordinate(y, options.height));
            if let Some(p) = &mut stroke.p {
                let ramp = (std::f64::consts::PI * u).sin().max(0.0).powf(0.6);
                let wobble = 0.08 * (std::f64::consts::TAU * 7.0 * u + speed_phase).sin();
                p.push(round_to((0.12 + 0.6 * ramp + wobble).clamp(0.02, 1.0), 3));
            }
            let seconds = t / 1000.0;
            if let Some(tilt) = &mut stroke.tilt_x {
                tilt.push((35.0 + 6.0 * (std::f64::consts::TAU * 0.7 * seconds).sin()).round());
            }
            if let Some(tilt) = &mut stroke.tilt_y {
                tilt.push((-15.0 + 4.0 * (std::f64::consts::TAU * 0.4 * seconds).cos()).round());
            }
            t += interval + random.between(-0.25, 0.25) * interval / 4.0;
        }
        strokes.push(stroke);
    }
    let millis = options.seed % 1000;
    Document {
        format: Tag::Sigdata1,
        capture: CaptureInfo {
            width: options.width,
            height: options.height,
            pointer_type: options.pointer_type,
            device_pixel_ratio: Some(match options.pointer_type {
                PointerType::Pen => 2.0,
                PointerType::Touch => 3.0,
                PointerType::Mouse => 1.0,
            }),
            started_at: Some(format!("2026-11-27T10:15:02.{millis:03}Z")),
        },
        strokes,
    }
}

/// The PNG a canvas of the capture area would hold: dark ink on white, line width following the
/// pressure, anti-aliased.
pub fn render_png(document: &Document) -> Vec<u8> {
    let width = document.capture.width.ceil().max(1.0) as usize;
    let height = document.capture.height.ceil().max(1.0) as usize;
    let mut ink = vec![0f32; width * height];
    let base_radius = match document.capture.pointer_type {
        PointerType::Pen => 0.6,
        PointerType::Touch => 1.6,
        PointerType::Mouse => 1.0,
    };
    for stroke in &document.strokes {
        let radius = |i: usize| base_radius + stroke.p.as_ref().map_or(0.0, |p| 1.2 * p[i]);
        for i in 0..stroke.sample_count() {
            let from = if i == 0 { i } else { i - 1 };
            let (x0, y0, r0) = (stroke.x[from], stroke.y[from], radius(from));
            let (x1, y1, r1) = (stroke.x[i], stroke.y[i], radius(i));
            let steps = ((x1 - x0).hypot(y1 - y0) / 0.5).ceil().max(1.0) as usize;
            for step in 0..=steps {
                let f = step as f64 / steps as f64;
                stamp(
                    &mut ink,
                    width,
                    height,
                    x0 + (x1 - x0) * f,
                    y0 + (y1 - y0) * f,
                    r0 + (r1 - r0) * f,
                );
            }
        }
    }
    let pixels: Vec<u8> = ink
        .iter()
        .map(|coverage| (255.0 - coverage * 230.0).round() as u8)
        .collect();
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        // Encoding a well-formed image into memory cannot fail; an empty result would be refused
        // by the API as "not a PNG", never silently accepted.
        if let Ok(mut writer) = encoder.write_header() {
            let _ = writer.write_image_data(&pixels);
        }
    }
    out
}

/// Ink coverage of a disk centred at (cx, cy), kept at its maximum per pixel.
fn stamp(ink: &mut [f32], width: usize, height: usize, cx: f64, cy: f64, radius: f64) {
    let reach = radius + 1.0;
    let (x_lo, x_hi) = ((cx - reach).floor().max(0.0), (cx + reach).ceil());
    let (y_lo, y_hi) = ((cy - reach).floor().max(0.0), (cy + reach).ceil());
    for py in y_lo as usize..(y_hi as usize).min(height) {
        for px in x_lo as usize..(x_hi as usize).min(width) {
            let distance = (px as f64 + 0.5 - cx).hypot(py as f64 + 0.5 - cy);
            let coverage = (radius + 0.5 - distance).clamp(0.0, 1.0) as f32;
            let cell = &mut ink[py * width + px];
            *cell = cell.max(coverage);
        }
    }
}
