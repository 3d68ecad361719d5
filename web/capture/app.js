// The capture page: load the sign, record the preview, capture and send the signature, show the
// receipt. Opened as /capture/#api=URL&org=ORG&sign=ID&token=JWT (capture-page.md).

import { SignApi, explain } from "./api.js";
import { fingerprint, installationId, locationSource } from "./device.js";
import { SignaturePad } from "./ink.js";
import { LIMITS, base64Utf8, buildSigdata, checkQuality } from "./sigdata.js";

const $ = (id) => document.getElementById(id);
const ui = {
  request: $("request"),
  signerName: $("signer-name"),
  expires: $("expires"),
  documents: $("documents"),
  stepRead: $("step-read"),
  shareLocation: $("share-location"),
  locationState: $("location-state"),
  preview: $("preview"),
  stepSign: $("step-sign"),
  canvas: $("signature"),
  clear: $("clear"),
  sign: $("sign"),
  status: $("status"),
  technical: $("technical"),
  retry: $("retry"),
  receipt: $("receipt"),
  receiptFacts: $("receipt-facts"),
};

function setStatus(text, kind = "info", technical = "") {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
  ui.technical.textContent = technical ? `Technical details: ${technical}` : "";
  ui.technical.hidden = !technical;
}

let retryAction = null;
function offerRetry(action) {
  retryAction = action;
  ui.retry.hidden = !action;
}
ui.retry.addEventListener("click", () => {
  const action = retryAction;
  offerRetry(null);
  action?.();
});

// The link's fragment never reaches a server: the token stays between the link and this page.
function readLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const link = {
    base: params.get("api") || location.origin,
    org: params.get("org"),
    sign: params.get("sign"),
    token: params.get("token"),
  };
  let baseOk = false;
  try {
    baseOk = ["http:", "https:"].includes(new URL(link.base).protocol);
  } catch {
    baseOk = false;
  }
  return baseOk && link.org && link.sign && link.token ? link : null;
}

const link = readLink();
const api = link && new SignApi(link);
const place = locationSource();
const fingerprintPromise = fingerprint().catch(() => "unavailable");
let sign = null; // the last GetSignResponse
let confirmed = false; // the documents were confirmed as read (here, or before: PREVIEWED)
let busy = false;

const pad = new SignaturePad(ui.canvas);
pad.setEnabled(false);

async function device() {
  return {
    installationId: installationId(),
    fingerprint: await fingerprintPromise,
    location: ui.shareLocation.checked ? place.current() : null,
  };
}

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "short" }).format(date);
}

function showRequest(loaded) {
  const signer = loaded.signer || {};
  ui.signerName.textContent = [signer.name, signer.last_name].filter(Boolean).join(" ");
  ui.expires.textContent = formatTime(loaded.expires_at);
  const toPreview = new Set(loaded.preview_documents || []);
  ui.documents.replaceChildren(
    ...(loaded.documents || []).map((document_) => {
      const item = document.createElement("li");
      item.textContent = document_.name || document_.id;
      if (toPreview.has(document_.id)) {
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = " (to read before signing)";
        item.append(note);
      }
      return item;
    }),
  );
  ui.request.hidden = false;
}

function fact(term, value, digest = false) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (digest) dd.className = "digest";
  return [dt, dd];
}

// The receipt: the evidence chain's head (and its trusted time) where the API gives one, else
// the digests of what was stored. Enough for the signer to prove later what they signed.
function showReceipt(loaded) {
  const facts = [...fact("Signed at", formatTime(loaded.signed_at))];
  const evidence = loaded.evidence;
  if (evidence && typeof evidence === "object" && evidence.chain_sha256) {
    facts.push(...fact("Evidence (SHA-256)", evidence.chain_sha256, true));
    if (evidence.timestamped_at) {
      facts.push(...fact("Timestamped at", formatTime(evidence.timestamped_at)));
    }
  } else if (loaded.signature) {
    facts.push(...fact("Signature image (SHA-256)", loaded.signature.image_sha256, true));
    facts.push(...fact("Biometric data (SHA-256)", loaded.signature.biometric_data_sha256, true));
  }
  facts.push(...fact("Request", loaded.sign_id, true));
  ui.receiptFacts.replaceChildren(...facts);
  ui.receipt.hidden = false;
}

function lockSigning() {
  pad.setEnabled(false);
  ui.preview.disabled = true;
  ui.sign.disabled = true;
  ui.clear.disabled = true;
}

function openSigning() {
  ui.stepSign.hidden = false;
  pad.setEnabled(!busy);
  ui.sign.disabled = busy;
  ui.clear.disabled = busy;
}

// Shows the sign as loaded, whatever its state.
function render(loaded) {
  sign = loaded;
  showRequest(loaded);
  const name = loaded.signer?.name || "";
  switch (loaded.status) {
    case "SIGNED":
      lockSigning();
      ui.stepRead.hidden = true;
      ui.stepSign.hidden = true;
      setStatus("This request is already signed: there is nothing more to do.", "done");
      showReceipt(loaded);
      return;
    case "CANCELLED":
      lockSigning();
      ui.stepRead.hidden = true;
      ui.stepSign.hidden = true;
      setStatus("This signature request was cancelled by its sender: it can no longer be signed.", "error");
      return;
    case "EXPIRED":
      lockSigning();
      ui.stepRead.hidden = true;
      ui.stepSign.hidden = true;
      setStatus("This signature request has expired: it can no longer be signed. Please ask its sender for a new one.", "error");
      return;
    case "PENDING":
    case "PREVIEWED":
      ui.stepRead.hidden = false;
      ui.preview.disabled = busy;
      confirmed ||= loaded.status === "PREVIEWED";
      if (confirmed) {
        openSigning();
        setStatus(`${name ? `${name}, sign` : "Sign"} in the box, then press Sign.`);
      } else {
        setStatus("Read the documents listed, then confirm that you have read them.");
      }
      return;
    default:
      lockSigning();
      setStatus(`This signature request is in a state this page does not know (${loaded.status}).`, "error");
  }
}

async function load() {
  setStatus("Loading the signature request…");
  const answer = await api.load();
  if (answer.status === 200 && answer.body) {
    render(answer.body);
    return true;
  }
  const meaning = explain(answer, "load");
  setStatus(meaning.message || "The signature request could not be loaded.", "error", meaning.technical);
  if (meaning.retry) offerRetry(load);
  return false;
}

// After a 409 or 410 the sign's current state says what happened (signed meanwhile, cancelled,
// expired, or not previewed yet).
async function reloadAfterRefusal(action) {
  const answer = await api.load();
  if (answer.status !== 200 || !answer.body) {
    const meaning = explain(answer, "load");
    setStatus(meaning.message || "The signature request could not be loaded.", "error");
    if (meaning.retry) offerRetry(action);
    return;
  }
  if (answer.body.status === "PENDING" && action === sendSign) {
    // A sign refused on a pending request: the documents were not confirmed as read.
    confirmed = false;
    render(answer.body);
    setStatus("Please confirm first that you have read the documents, then sign again.", "error");
    return;
  }
  render(answer.body);
  if (answer.body.status === "PREVIEWED") {
    // Still open: the refusal was a race with another request. The capture is still on the pad.
    setStatus("The service was busy with another request. Please press Sign again.", "error");
  }
}

async function sendPreview() {
  busy = true;
  ui.preview.disabled = true;
  offerRetry(null);
  setStatus("Recording that you have read the documents…");
  const answer = await api.preview(await device());
  busy = false;
  if (answer.status === 204) {
    confirmed = true;
    ui.preview.disabled = false;
    openSigning();
    setStatus("Thank you. Now sign in the box, then press Sign.");
    ui.stepSign.scrollIntoView({ block: "nearest" });
    return;
  }
  ui.preview.disabled = false;
  const meaning = explain(answer, "preview");
  if (meaning.reload) {
    await reloadAfterRefusal(sendPreview);
    return;
  }
  setStatus(meaning.message, "error", meaning.technical);
  if (meaning.retry) offerRetry(sendPreview);
}

// The request body for the capture on the pad, or a refusal in the signer's words.
function prepareSignature() {
  if (pad.active) return { refusal: "Lift the pen or finger first, then press Sign." };
  const sigdata = buildSigdata(pad.capture());
  const quality = checkQuality(sigdata);
  if (quality) return { refusal: quality.message };
  const biometric = base64Utf8(JSON.stringify(sigdata));
  if (biometric.length > LIMITS.maxBiometricChars) {
    return { refusal: "That signature is too long to send. Please clear the box and sign again." };
  }
  // Twice the CSS size keeps the mark sharp when printed; a large pad falls back to 1×.
  let image = pad.toPng(2);
  if (image.length > LIMITS.maxImageChars) image = pad.toPng(1);
  if (image.length > LIMITS.maxImageChars) {
    return { refusal: "The picture of that signature is too large to send. Please clear the box and sign again." };
  }
  return { body: JSON.stringify({ biometric_data: biometric, signature_image: image }) };
}

let pendingBody = null;

async function sendSign() {
  if (busy) return;
  offerRetry(null);
  const prepared = prepareSignature();
  if (prepared.refusal) {
    setStatus(prepared.refusal, "error");
    return;
  }
  pendingBody = prepared.body;
  await submit();
}

// Sends the prepared body. A retry sends exactly the same body with the same installation id:
// if an earlier attempt did succeed unseen, the API answers 204 again and stores nothing new.
async function submit() {
  busy = true;
  pad.setEnabled(false);
  ui.sign.disabled = true;
  ui.clear.disabled = true;
  ui.preview.disabled = true;
  setStatus("Sending your signature…");
  const answer = await api.sign(await device(), pendingBody);
  busy = false;
  if (answer.status === 204) {
    pendingBody = null;
    await showSigned();
    return;
  }
  const meaning = explain(answer, "sign");
  if (meaning.reload) {
    pendingBody = null;
    await reloadAfterRefusal(sendSign);
    return;
  }
  ui.preview.disabled = false;
  openSigning();
  setStatus(meaning.message, "error", meaning.technical);
  if (meaning.retry) {
    offerRetry(submit);
  } else {
    pendingBody = null;
  }
}

async function showSigned() {
  lockSigning();
  const answer = await api.load();
  const name = sign?.signer?.name;
  const thanks = name ? ` Thank you, ${name}.` : " Thank you.";
  if (answer.status === 200 && answer.body) {
    sign = answer.body;
    showReceipt(answer.body);
    setStatus(`Signed.${thanks} Keep the receipt below as proof of what you signed.`, "done");
  } else {
    setStatus(`Signed.${thanks} (The receipt could not be loaded: reload this page to see it.)`, "done");
  }
  ui.stepRead.hidden = true;
}

ui.preview.addEventListener("click", () => {
  if (!busy) sendPreview();
});
ui.sign.addEventListener("click", sendSign);
ui.clear.addEventListener("click", () => {
  if (busy) return;
  pad.clear();
  offerRetry(null);
  pendingBody = null;
  setStatus("Sign in the box, then press Sign.");
});
ui.shareLocation.addEventListener("change", () => {
  if (!ui.shareLocation.checked) {
    place.forget();
    ui.locationState.textContent = "";
    return;
  }
  // Asked now, used whenever it arrives: previewing and signing never wait for it.
  ui.locationState.textContent = "Finding your location…";
  place.request((found) => {
    if (!ui.shareLocation.checked) return;
    if (found) {
      ui.locationState.textContent = "Location found.";
    } else {
      ui.shareLocation.checked = false;
      ui.locationState.textContent = "Your location is not available: it will not be added.";
    }
  });
});

if (api) {
  load();
} else {
  setStatus(
    "This link is incomplete: it needs the organisation, the request and an access token. Please open the whole link you were given.",
    "error",
  );
}
