// The three calls of the Biometric Signature API, and what their errors mean to a signer.

// Every answer as {status, body, error}: status 0 when the service could not be reached.
async function call(url, init) {
  let response;
  try {
    response = await fetch(url, { ...init, cache: "no-store", credentials: "omit" });
  } catch {
    return { status: 0, body: null, error: null };
  }
  let body = null;
  const text = await response.text().catch(() => "");
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  const error = !response.ok && Array.isArray(body?.errors) ? body.errors[0] ?? null : null;
  return { status: response.status, body, error };
}

export class SignApi {
  constructor({ base, org, sign, token }) {
    this.url = `${base.replace(/\/+$/, "")}/v1/orgs/${encodeURIComponent(org)}/biometric_signs/${encodeURIComponent(sign)}`;
    this.token = token;
  }

  headers(device, extra = {}) {
    const headers = { Authorization: `Bearer ${this.token}`, ...extra };
    if (device) {
      headers["x-installation_id"] = device.installationId;
      headers["x-fingerprint"] = device.fingerprint;
      if (device.location) headers["x-location"] = device.location;
    }
    return headers;
  }

  load() {
    return call(this.url, { method: "GET", headers: this.headers(null) });
  }

  preview(device) {
    return call(`${this.url}/preview`, { method: "POST", headers: this.headers(device) });
  }

  sign(device, body) {
    return call(`${this.url}/sign`, {
      method: "POST",
      headers: this.headers(device, { "Content-Type": "application/json" }),
      body,
    });
  }
}

// What an answer that is not a success means for the signer: {message, retry} where retry says
// whether sending the same request again can help, or `reload` when only the sign's current
// state can tell (409, 410: it was signed, cancelled or expired meanwhile).
export function explain(answer, action) {
  const details = answer.error?.details || "";
  switch (answer.status) {
    case 0:
      return {
        message: "The signature service could not be reached. Check your internet connection and try again.",
        retry: true,
      };
    case 401:
      return {
        message: "This link is no longer valid (it may have expired). Please ask for a new signing link.",
        retry: false,
      };
    case 404:
      return {
        message: "This signature request was not found. Please check that you opened the whole link you were given.",
        retry: false,
      };
    case 409:
    case 410:
      return { message: "", retry: false, reload: true };
    case 422:
      return { message: qualityInWords(details), retry: false, redraw: true, technical: details };
    case 400:
      if (action === "sign" && /^(biometric_data|signature_image)/.test(details)) {
        return {
          message: "Your signature could not be read by the service. Please clear the box and sign again.",
          retry: false,
          redraw: true,
          technical: details,
        };
      }
      return {
        message: "This page sent a request the service could not accept. Please reload the page and try again; if it happens again, contact the sender of the link.",
        retry: false,
        technical: details,
      };
    case 413:
      return {
        message: "Your signature is too large to send. Please clear the box and sign again.",
        retry: false,
        redraw: true,
      };
    case 429:
      return { message: "The signature service is busy. Please wait a moment and try again.", retry: true };
    default:
      return {
        message: "The signature service had a problem. Nothing was lost: please try again.",
        retry: true,
      };
  }
}

// The server's 422 details name the quality rule (biometric-data.md); say it as the page does.
function qualityInWords(details) {
  if (/interval|sampling|median/.test(details)) {
    return "Too few points of your signature reached the service. Please clear the box and sign again with continuous strokes.";
  }
  if (/duration/.test(details)) {
    return "The service found the signature too quick or too slow. Please clear the box and sign at your usual pace.";
  }
  if (/sample|extent/.test(details)) {
    return "The service found that too small to be a signature. Please clear the box and sign with your full signature.";
  }
  return "The service did not accept this signature. Please clear the box and sign again.";
}
