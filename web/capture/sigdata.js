// sigdata/1 (biometric-data.md): the capture as sent, built from raw pointer samples, and the
// quality rules checked before anything is sent. The server stays the judge; these checks only
// spare the signer a round trip and the API a request that cannot succeed.

export const LIMITS = Object.freeze({
  minSamples: 20,
  maxSamples: 100000,
  maxStrokes: 200,
  minDurationMs: 200,
  maxDurationMs: 120000,
  minExtentPx: 10,
  maxMedianIntervalMs: 50,
  // As sent, base64 included (biometric-signature.md).
  maxBiometricChars: 307200,
  maxImageChars: 512000,
});

// Rounding keeps the JSON small without losing anything a digitizer measures: 1/100 CSS px,
// 1/100 ms (browsers coarsen event times to 0.1 ms or more), 1/10000 of full pressure.
const round = (value, digits) => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};
const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

// A constant pressure channel is no pressure: it is what devices without a sensor report.
function varies(strokes, channel) {
  let first;
  for (const stroke of strokes) {
    for (const sample of stroke) {
      if (first === undefined) first = sample[channel];
      else if (sample[channel] !== first) return true;
    }
  }
  return false;
}

// Whether the capture's pressure is real. A pen reports pressure by definition; a touch screen
// only sometimes (then it varies); a mouse's 0.5 while a button is down never is.
export function hasRealPressure(pointerType, strokes) {
  if (pointerType === "pen") return true;
  if (pointerType === "touch") return varies(strokes, "p");
  return false;
}

// strokes: arrays of raw samples {t, x, y, p, tiltX, tiltY} (t in ms on one clock, x/y in CSS
// px of the capture frame). Returns the sigdata/1 object.
export function buildSigdata({ width, height, pointerType, devicePixelRatio, startedAt, strokes }) {
  const pressure = hasRealPressure(pointerType, strokes);
  const tilt = pointerType === "pen";
  // Times are sent relative to the first sample (the format allows any origin): shorter numbers,
  // and started_at keeps the wall-clock start.
  const origin = strokes.length > 0 && strokes[0].length > 0 ? strokes[0][0].t : 0;
  let previousT = 0;
  const out = strokes.map((samples) => {
    const stroke = { t: [], x: [], y: [] };
    if (pressure) stroke.p = [];
    if (tilt) {
      stroke.tilt_x = [];
      stroke.tilt_y = [];
    }
    for (const sample of samples) {
      // Non-decreasing across the whole capture, as the format requires, whatever rounding does.
      previousT = Math.max(previousT, round(sample.t - origin, 2));
      stroke.t.push(previousT);
      stroke.x.push(round(clamp(sample.x, 0, width), 2));
      stroke.y.push(round(clamp(sample.y, 0, height), 2));
      if (pressure) stroke.p.push(round(clamp(sample.p, 0, 1), 4));
      if (tilt) {
        stroke.tilt_x.push(clamp(Math.round(sample.tiltX || 0), -90, 90));
        stroke.tilt_y.push(clamp(Math.round(sample.tiltY || 0), -90, 90));
      }
    }
    return stroke;
  });
  const capture = {
    width: round(width, 2),
    height: round(height, 2),
    pointer_type: pointerType,
  };
  if (devicePixelRatio > 0 && devicePixelRatio <= 16) capture.device_pixel_ratio = devicePixelRatio;
  if (startedAt) capture.started_at = startedAt;
  return { format: "sigdata/1", capture, strokes: out };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// The Quality table of biometric-data.md (plus the format's own stroke and sample limits), in
// words a signer can act on. Returns null when the capture passes, else {rule, message}.
export function checkQuality(sigdata) {
  const strokes = sigdata.strokes;
  const samples = strokes.reduce((sum, stroke) => sum + stroke.t.length, 0);
  if (samples === 0) {
    return { rule: "empty", message: "Please sign in the box first." };
  }
  if (strokes.length > LIMITS.maxStrokes) {
    return {
      rule: "strokes",
      message: `That has more than ${LIMITS.maxStrokes} strokes, more than a signature has. Please clear the box and sign again.`,
    };
  }
  if (samples > LIMITS.maxSamples) {
    return {
      rule: "samples",
      message: "That signature is too long to send. Please clear the box and sign again.",
    };
  }
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const intervals = [];
  for (const stroke of strokes) {
    for (let i = 0; i < stroke.t.length; i++) {
      minX = Math.min(minX, stroke.x[i]);
      maxX = Math.max(maxX, stroke.x[i]);
      minY = Math.min(minY, stroke.y[i]);
      maxY = Math.max(maxY, stroke.y[i]);
      if (i > 0) intervals.push(stroke.t[i] - stroke.t[i - 1]);
    }
  }
  const extent = Math.max(maxX - minX, maxY - minY);
  if (samples < LIMITS.minSamples || extent < LIMITS.minExtentPx) {
    return {
      rule: "too small",
      message: "That is too small to be a signature. Please sign with your full signature, as on paper.",
    };
  }
  const duration = strokes[strokes.length - 1].t.at(-1) - strokes[0].t[0];
  if (duration < LIMITS.minDurationMs) {
    return {
      rule: "too quick",
      message: "That was too quick to be a signature. Please clear the box and sign at your usual pace.",
    };
  }
  if (duration > LIMITS.maxDurationMs) {
    return {
      rule: "too long",
      message: "That took more than two minutes. Please clear the box and sign again.",
    };
  }
  if (intervals.length === 0 || median(intervals) > LIMITS.maxMedianIntervalMs) {
    return {
      rule: "sampling",
      message: "Too few points of your signature were recorded. Please clear the box and sign again with continuous strokes.",
    };
  }
  return null;
}

// Standard base64 of a string's UTF-8 bytes (btoa alone takes only Latin-1).
export function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
