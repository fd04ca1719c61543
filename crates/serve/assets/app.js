// sneaker-id page: send a photo (picked, dropped, pasted or taken) to the API and show the answer.
// Everything user- or server-supplied is inserted as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const kind = document.body.dataset.modelKind; // "imagenet" or "trained"

function pretty(label) {
  return label.replace(/_/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
}

function pct(p) {
  return (100 * p).toFixed(p >= 0.1 ? 0 : 1) + "%";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function safeUrl(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

function setBusy(busy, text) {
  $("status").textContent = text || "";
  document.body.toggleAttribute("aria-busy", busy);
}

function showError(message) {
  $("result").hidden = true;
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

async function identify(file) {
  if (!file) return;
  $("error").hidden = true;
  setBusy(true, "Identifying " + (file.name || "the photo") + "…");
  const params = new URLSearchParams({ top_k: $("top-k").value, include_image: "true" });
  if ($("remove-background").checked) params.set("remove_background", "true");
  const form = new FormData();
  form.append("image", file, file.name || "pasted-image");
  let response, body;
  try {
    response = await fetch("/api/v1/identify?" + params, { method: "POST", body: form });
    body = await response.json().catch(() => null);
  } catch (e) {
    setBusy(false, "");
    showError("Could not reach the server: " + e.message);
    return;
  }
  setBusy(false, "");
  if (!response.ok) {
    const why = body && body.error ? body.error : "the server answered " + response.status;
    showError("That did not work: " + why);
    return;
  }
  render(body);
}

function productDetails(product) {
  const bits = [];
  if (product.brand) bits.push(product.brand);
  if (product.colorway) bits.push(product.colorway);
  if (product.style_id) bits.push("style " + product.style_id);
  if (product.price != null) bits.push(product.price + (product.currency ? " " + product.currency : ""));
  const details = el("div", { class: "details" }, bits.join(" · "));
  const link = product.url && safeUrl(product.url);
  if (link) {
    details.append(bits.length ? " · " : "", el("a", { href: link, rel: "noopener noreferrer", target: "_blank" }, "product page"));
  }
  return details;
}

function details(product) {
  const bits = [];
  if (product.brand) bits.push(product.brand);
  if (product.colorway) bits.push(product.colorway);
  if (product.style_id) bits.push("style " + product.style_id);
  return bits.join(" · ");
}

// The product card: the top match in product terms, with the enrolled photo it rests on.
function card(answer, named) {
  const top = answer.predictions[0];
  const verdict = $("verdict");
  const detail = $("verdict-detail");
  const cardDetails = $("card-details");
  const photo = $("card-photo");
  const fw = answer.footwear;
  verdict.className = answer.verdict;
  cardDetails.replaceChildren();
  photo.hidden = true;
  photo.removeAttribute("src");
  if (answer.verdict === "not_a_sneaker") {
    verdict.textContent = "This does not look like a sneaker";
    detail.textContent = "The footwear check gives it " + pct(fw.probability) + ". Try a photo where the shoe fills most of the frame.";
    return;
  }
  if (!named || !top) {
    verdict.textContent = "Footwear: " + pct(fw.probability);
    detail.textContent = "No sneaker is enrolled yet, so these are the general (ImageNet) categories. Add a sneaker below, or see the note above.";
    return;
  }
  const product = top.product || {};
  const name = product.name || pretty(top.label);
  const sim = top.similarity != null ? " · looks " + pct(Math.max(0, top.similarity)) + " like its nearest enrolled photo" : "";
  if (answer.verdict === "not_sure") {
    verdict.textContent = "Not sure";
    detail.textContent = "The closest is " + name + ", at only " + pct(top.probability) + sim + ". It may be a sneaker that is not enrolled: try another angle, more light, or add it below.";
  } else {
    verdict.textContent = name;
    detail.textContent = pct(top.probability) + " confident" + sim + ".";
    const text = details(product);
    if (text) cardDetails.append(text);
    const link = product.url && safeUrl(product.url);
    if (link) cardDetails.append(text ? " · " : "", el("a", { href: link, rel: "noopener noreferrer", target: "_blank" }, "product page"));
  }
  // Served by this server (a thumbnail kept at enrolment, or a catalog photo); never a shop's CDN.
  const src = [top.photo, top.thumbnail].find((u) => u && u.startsWith("/"));
  if (src) {
    photo.src = src;
    photo.alt = "Enrolled photo of " + name;
    photo.hidden = false;
  }
}

function render(answer) {
  const verdict = $("verdict");
  const top = answer.predictions[0];
  const fw = answer.footwear;
  // Sneaker names come from a trained run or, with a gallery, from enrolled products.
  const named = kind === "trained" || (top && top.similarity != null);
  card(answer, named);

  const list = $("predictions");
  list.replaceChildren();
  // No shoe: enrolled products ranked against it would only mislead.
  const hide = named && answer.verdict === "not_a_sneaker";
  list.hidden = hide;
  $("matches-title").hidden = hide;
  for (const p of answer.predictions) {
    const product = p.product || null;
    const name = (product && product.name) || pretty(p.label);
    const item = el("li", { class: "prediction" });
    // Served by this server from the catalog's photos; never a shop's CDN.
    const thumb = [p.photo, p.thumbnail].find((u) => u && u.startsWith("/")) || null;
    if (thumb) item.append(el("img", { class: "thumb", src: thumb, alt: "", loading: "lazy" }));
    const title = el("div", { class: "name" }, name + " ", el("span", { class: "pct" }, pct(p.probability)));
    const bar = el("div", { class: "bar", role: "img", "aria-label": pct(p.probability) + " confidence" }, el("span"));
    bar.firstChild.style.width = Math.max(0.5, 100 * p.probability).toFixed(1) + "%";
    const info = el("div", { class: "info" }, title, bar);
    if (product) info.append(productDetails(product));
    item.append(info);
    list.append(item);
  }

  $("footwear").textContent = "Footwear check: " + pct(fw.probability) + " (threshold " + pct(fw.threshold) + ").";
  const t = answer.timings_ms;
  const bg = t.background_removal ? " (background removal " + t.background_removal + " ms)" : "";
  $("timings").textContent = "Decode " + t.decode + " ms · preprocess " + t.preprocess + " ms" + bg + " · queue " + t.queue + " ms · network " + t.inference + " ms (batch of " + t.batch_size + ")";
  const seen = $("seen");
  if (answer.image && answer.image.seen) seen.src = answer.image.seen;
  const removed = answer.image && answer.image.background_removed;
  $("seen-caption").textContent = "As the model saw it" + (removed ? ", background removed" : "");
  $("result").hidden = false;
  verdict.focus();
}

function firstImage(items) {
  for (const item of items || []) {
    if (item.kind === "file") {
      const f = item.getAsFile();
      if (f) return f;
    }
  }
  return null;
}

function setup() {
  for (const id of ["file-input", "camera-input"]) {
    $(id).addEventListener("change", (e) => {
      identify(e.target.files[0]);
      e.target.value = "";
    });
  }
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) identify(file);
    else showError("Nothing to identify: drop an image file.");
  });
  document.addEventListener("paste", (e) => {
    // Photos pasted into the "Add a sneaker" form are for enrolment (enroll.js).
    if (e.target && e.target.closest && e.target.closest("#enroll")) return;
    const file = firstImage(e.clipboardData && e.clipboardData.items);
    if (file) identify(file);
  });
  $("upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    identify($("file-input").files[0]);
  });
}

setup();
