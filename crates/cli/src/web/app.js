// The page of `faketagger serve` (issue 22): tags photos through POST /v1/embed and checks them
// through POST /v1/decode. No framework, nothing fetched from elsewhere; every text from the
// server or a file name is set as text, never as HTML.
"use strict";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);

/** An element with attributes (`text` sets its text) and children. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const mib = (bytes) => `${(bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0)} MB`;

/** What a service error means, in words, then its own message. */
function words(error, status) {
  const code = error && error.code;
  const message = (error && error.message) || `the server answered ${status}`;
  const lead = {
    already_tagged: "This photo already carries a tag (tick “Tag photos that already carry a tag” to tag it anyway).",
    tag_not_carried: "The tag did not hold in this photo, so no copy was made (a flat or very small photo; a higher strength may help).",
    no_faces: "No face was found in this photo, and only faces were to be tagged.",
    bad_image: "This file could not be read as a photo.",
    truncated_image: "This photo file is incomplete.",
    image_too_small: "This photo is too small to tag.",
    image_too_large: "This photo is larger than this server takes.",
    payload_too_large: "This photo is larger than this server takes.",
    busy: "The server is busy; try again in a moment.",
    unauthorized: "The API key was not accepted.",
    embedding_disabled: "This server does not tag photos.",
    registering_disabled: "This server does not register photos from the page.",
    bad_token: "This page is out of date: reload it.",
    bad_host: "This page may tag photos only when opened at 127.0.0.1 or localhost.",
    cross_origin: "Only this server's own page may tag photos.",
    keyless_refused: "This server tags photos only with an API key.",
  }[code];
  return lead ? `${lead} (${message})` : message;
}

/** POSTs JSON; the answer, or an Error carrying the service's message in words. */
async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (path === "/v1/embed") {
    if (config.keyless) headers["X-Faketagger-Page-Token"] = config.token;
    else if ($("api-key").value.trim()) headers.Authorization = `Bearer ${$("api-key").value.trim()}`;
  }
  let response;
  try {
    response = await fetch(path, {
      method: "POST", headers, body: JSON.stringify(body), credentials: "omit", cache: "no-store",
    });
  } catch (_) {
    throw new Error("The faketagger server could not be reached: is `faketagger serve` still running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    // an answer that is not JSON: said below with its status
  }
  if (!response.ok || !data) throw new Error(words(data && data.error, response.status));
  return data;
}

/** A file's bytes as base64 (the service's JSON carries images so). */
function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new Error(`${file.name} could not be read: ${reader.error}`));
    reader.readAsDataURL(file);
  });
}

function blobOf(base64, type) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type });
}

/** Refuses, before sending, a file the server's body limit would refuse. */
function checkSize(file) {
  const body = Math.ceil(file.size / 3) * 4 + 4096;
  if (body > config.maxBodyBytes) {
    throw new Error(`${file.name} is ${mib(file.size)}: this server takes photos up to about ` +
      `${mib(Math.floor((config.maxBodyBytes - 4096) * 3 / 4))} (faketagger serve --max-body-mib).`);
  }
}

// ---------------------------------------------------------------- protect

let chosen = [];
const objectUrls = [];

function choose(files) {
  chosen = Array.from(files);
  $("chosen").textContent = chosen.length === 0 ? "" :
    chosen.length === 1 ? `Chosen: ${chosen[0].name}` : `Chosen: ${chosen.length} photos`;
  updateButtons();
}

function canEmbed() {
  return config.keyless || (config.keyed && $("api-key").value.trim() !== "");
}

function updateButtons() {
  const registering = $("register").checked;
  $("owner").disabled = !registering;
  $("note").disabled = !registering;
  $("tag-button").disabled = busy.tag || chosen.length === 0 || !canEmbed() ||
    (registering && $("owner").value.trim() === "");
  $("check-button").disabled = busy.check || $("check-files").files.length === 0;
}

const busy = { tag: false, check: false };

function outputFormat(file) {
  const choice = $("format").value;
  if (choice !== "same") return choice;
  return /jpe?g$/i.test(file.type) || /\.jpe?g$/i.test(file.name) ? "jpeg" : "png";
}

function taggedName(file, format) {
  const stem = file.name.replace(/\.[^.]*$/, "") || "photo";
  return `${stem}-tagged.${format === "jpeg" ? "jpg" : "png"}`;
}

function number(value, digits) {
  return Number(value).toFixed(digits).replace(/\.?0+$/, "");
}

/** Before/after of one photo with a zoom; both shown in the same frame, so that the same spot
 * of each can be compared. */
function viewer(index, name, beforeUrl, afterUrl) {
  const image = el("img", { src: afterUrl, alt: `Tagged copy of ${name}`, class: "fit" });
  const frame = el("div", { class: "frame", tabindex: "0", role: "region",
    "aria-label": `Preview of ${name}; scroll to move around when zoomed` }, image);
  const show = (which) => {
    image.src = which === "before" ? beforeUrl : afterUrl;
    image.alt = which === "before" ? `Original of ${name}` : `Tagged copy of ${name}`;
  };
  const radios = el("div", { class: "toggle", role: "radiogroup", "aria-label": `Show ${name}` });
  for (const [value, label] of [["after", "Tagged"], ["before", "Original"]]) {
    const id = `view-${index}-${value}`;
    const input = el("input", { type: "radio", name: `view-${index}`, id, value, checked: value === "after" });
    input.addEventListener("change", () => show(value));
    radios.append(el("span", {}, input, el("label", { for: id, text: label })));
  }
  const zoomId = `zoom-${index}`;
  const zoom = el("select", { id: zoomId });
  for (const [value, label] of [["fit", "Fit"], ["1", "100%"], ["2", "200%"], ["4", "400%"], ["8", "800%"]]) {
    zoom.append(el("option", { value, text: label }));
  }
  zoom.addEventListener("change", () => {
    if (zoom.value === "fit") {
      image.className = "fit";
      image.style.width = "";
    } else {
      image.className = "zoomed";
      image.style.width = `${image.naturalWidth * Number(zoom.value) / (window.devicePixelRatio || 1)}px`;
    }
  });
  return el("div", { class: "viewer" },
    el("div", { class: "viewer-controls" }, radios,
      el("span", { class: "zoom" }, el("label", { for: zoomId, text: "Zoom" }), zoom)),
    frame);
}

function tagResult(index, file, data) {
  const format = data.format;
  const url = URL.createObjectURL(blobOf(data.image, format === "jpeg" ? "image/jpeg" : "image/png"));
  const before = URL.createObjectURL(file);
  objectUrls.push(url, before);
  const faces = data.faces || [];
  const facesRead = faces.filter((f) => f.verified).length;
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "Tag" }), el("dd", {}, el("code", { class: "tag", text: data.tag })),
    el("dt", { text: "PSNR" }), el("dd", { class: "psnr", text: data.psnr === null ? "lossless" : `${number(data.psnr, 2)} dB` }),
    el("dt", { text: "Strength" }), el("dd", { text: number(data.strength, 3) }),
    el("dt", { text: "Faces" }), el("dd", { text: faces.length === 0 ? "none tagged on their own" :
      `${faces.length} tagged (${facesRead} read back)` }),
    el("dt", { text: "Registry" }), el("dd", { text: data.record ? `registered, owner ${data.record.owner}` : "not registered" }));
  const notes = [];
  if (!data.verified) notes.push("The tag did not read back from the saved copy.");
  if (data.may_show) notes.push("The tag may be visible in this photo (low PSNR): look before you post it.");
  const name = taggedName(file, format);
  return el("li", { class: "card", "data-state": "done", "data-tag": data.tag },
    el("h3", { text: file.name }),
    facts,
    ...notes.map((n) => el("p", { class: "warning", role: "note", text: n })),
    el("p", {}, el("a", { class: "button download", href: url, download: name, text: `Download ${name}` })),
    viewer(index, file.name, before, url));
}

function failure(file, error) {
  return el("li", { class: "card", "data-state": "error" },
    el("h3", { text: file.name }),
    el("p", { class: "error", role: "alert", text: error.message }));
}

async function tagAll() {
  if (busy.tag) return;
  busy.tag = true;
  updateButtons();
  const files = chosen.slice();
  const strength = $("strength").value.trim() === "" ? undefined : Number($("strength").value);
  const registering = config.register && $("register").checked;
  $("tag-progress").hidden = false;
  $("tag-bar").max = files.length;
  $("tag-bar").value = 0;
  let done = 0;
  for (const [i, file] of files.entries()) {
    $("tag-status").textContent = `Tagging ${i + 1} of ${files.length}: ${file.name}…`;
    const index = $("results").children.length;
    const started = performance.now();
    try {
      checkSize(file);
      const body = {
        image: await base64Of(file),
        format: outputFormat(file),
        faces: $("faces").value,
        retag: $("retag").checked,
      };
      if (strength !== undefined) body.strength = strength;
      // registering is the user's explicit choice, never the default
      if (registering) {
        body.register = true;
        body.owner = $("owner").value.trim();
        if ($("note").value.trim()) body.note = $("note").value.trim();
      }
      const data = await post("/v1/embed", body);
      const card = tagResult(index, file, data);
      // from reading the file to the tagged copy ready to download, for the measurements
      card.dataset.ms = Math.round(performance.now() - started);
      $("results").append(card);
      done++;
    } catch (error) {
      $("results").append(failure(file, error));
    }
    $("tag-bar").value = i + 1;
  }
  $("tag-status").textContent = `${done} of ${files.length} photos tagged.`;
  $("clear-button").hidden = $("results").children.length === 0;
  busy.tag = false;
  updateButtons();
}

// ---------------------------------------------------------------- check

const VERDICTS = {
  no_tag: ["No tag", "No faketagger tag was found in this photo."],
  unregistered: ["Tagged", "It carries a tag, which this server's registry does not hold."],
  untrusted_record: ["Tagged, record NOT trusted", "Its record's signature does not verify: the record cannot be trusted."],
  original: ["Registered photo", "The registered photo itself, at most re-encoded or rescaled."],
  derived: ["Derived from a registered photo", "Its content differs from the registered original: edited, face-swapped or regenerated."],
};

function checkResult(file, report) {
  if (report.error) return failure(file, new Error(words(report.error, "an error")));
  const [title, meaning] = VERDICTS[report.verdict] || [report.verdict, ""];
  const facts = el("dl", { class: "facts" });
  const fact = (name, value, cls) => facts.append(el("dt", { text: name }), el("dd", { class: cls, text: value }));
  fact("Verdict", title, "verdict");
  if (report.tag) fact("Tag", report.tag, "tag");
  if (report.tag) fact("Confidence", `${Math.round(report.confidence * 100)}%`);
  if (report.record) {
    const r = report.record;
    fact("Owner", r.owner);
    fact("Issuer", r.issuer);
    fact("Registered", new Date(r.created * 1000).toLocaleString());
    if (r.note) fact("Note", r.note);
    fact("Signature", report.signature === "valid" ? "verifies" : String(report.signature).replace(/_/g, " "));
  }
  const card = el("li", { class: `card verdict-${report.verdict}`, "data-state": "done",
    "data-verdict": report.verdict, "data-tag": report.tag || "" },
    el("h3", { text: file.name }), el("p", { class: "meaning", text: meaning }), facts);
  const faces = report.faces || [];
  if (faces.length > 0) {
    const list = el("ul", { class: "faces" });
    faces.forEach((face, i) => {
      const [x1, y1, x2, y2] = face.box.map(Math.round);
      list.append(el("li", { text: `Face ${i + 1} (${x2 - x1}×${y2 - y1} px at ${x1}, ${y1}): ` +
        (face.found ? `tag ${face.tag}, ${Math.round(face.confidence * 100)}% confident` : "no tag") }));
    });
    card.append(el("h4", { text: "Faces" }), list);
  }
  const changed = (report.face_prints || []).filter((f) => f.changed).length;
  if (changed > 0) card.append(el("p", { class: "warning", text: `${changed} registered face(s) changed since registration.` }));
  return card;
}

async function checkAll() {
  if (busy.check) return;
  busy.check = true;
  updateButtons();
  const files = Array.from($("check-files").files);
  $("check-progress").hidden = false;
  $("check-bar").max = files.length;
  $("check-bar").value = 0;
  for (const [i, file] of files.entries()) {
    $("check-status").textContent = `Checking ${i + 1} of ${files.length}: ${file.name}…`;
    try {
      checkSize(file);
      const data = await post("/v1/decode", { images: [await base64Of(file)], faces: "auto" });
      $("checks").prepend(checkResult(file, data.results[0]));
    } catch (error) {
      $("checks").prepend(failure(file, error));
    }
    $("check-bar").value = i + 1;
  }
  $("check-status").textContent = `${files.length} photo${files.length === 1 ? "" : "s"} checked.`;
  busy.check = false;
  updateButtons();
}

// ---------------------------------------------------------------- wiring

function start() {
  $("noscript").hidden = true;
  $("origin").textContent = window.location.origin;
  const strength = $("strength");
  strength.min = config.strength.min;
  strength.max = config.strength.max;
  strength.placeholder = `${config.strength.default} (${config.strength.min} to ${config.strength.max})`;
  if (!config.faces) {
    $("faces").value = "off";
    $("faces").disabled = true;
    $("faces-help").textContent = "This server's networks do not read faces.";
  }
  if (config.keyless) {
    $("mode-note").textContent = "Tagged on this computer: photos go to the faketagger server " +
      "running here, and nothing is kept unless you register.";
  } else if (config.keyed) {
    $("mode-note").textContent = "This server tags photos for holders of an API key.";
    $("key-row").hidden = false;
  } else {
    $("mode-note").textContent = "This server only checks photos: it was started without --api-keys " +
      "and is not on a loopback address.";
  }
  $("register-set").hidden = !config.register;

  $("files").addEventListener("change", (e) => choose(e.target.files));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    choose(e.dataTransfer.files);
  });
  for (const id of ["register", "owner", "api-key", "check-files"]) {
    $(id).addEventListener("input", updateButtons);
    $(id).addEventListener("change", updateButtons);
  }
  $("tag-button").addEventListener("click", tagAll);
  $("check-button").addEventListener("click", checkAll);
  $("clear-button").addEventListener("click", () => {
    for (const url of objectUrls.splice(0)) URL.revokeObjectURL(url);
    $("results").replaceChildren();
    $("tag-progress").hidden = true;
    $("clear-button").hidden = true;
  });
  updateButtons();
}

start();
