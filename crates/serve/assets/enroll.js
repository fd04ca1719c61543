// sneaker-id page, "Add a sneaker": enroll a product from 1-10 photos (picked, dropped, pasted or
// taken) with its details; the server's enrolment token is asked for once (or taken from
// `?token=` in the address) and kept in this browser. Everything is inserted as text, never HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const section = $("enroll");
  if (!section || section.hidden) return;
  const KEY = "sneaker-id.enroll-token";
  const MAX = 10;
  const chosen = []; // { file, url }

  function storedToken() {
    try {
      return localStorage.getItem(KEY) || "";
    } catch (_) {
      return "";
    }
  }

  function keepToken(token) {
    try {
      if (token) localStorage.setItem(KEY, token);
      else localStorage.removeItem(KEY);
    } catch (_) {
      // Storage may be off (private mode): the field keeps the token for this visit.
    }
    showToken();
  }

  function showToken() {
    const saved = storedToken() !== "";
    $("token-row").hidden = saved;
    $("token-saved").hidden = !saved;
  }

  // A token handed over in the address (the link `sneaker-id serve` prints) is kept, then removed
  // from the address bar so it does not linger in history or screenshots.
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    keepToken(params.get("token").trim());
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  showToken();

  function say(text) {
    $("enroll-status").textContent = text;
  }

  function fail(text) {
    say("");
    const box = $("enroll-error");
    box.textContent = text;
    box.hidden = false;
  }

  function renderPreview() {
    const list = $("enroll-preview");
    list.replaceChildren();
    chosen.forEach((c, i) => {
      const img = document.createElement("img");
      img.src = c.url;
      img.alt = c.file.name || "photo " + (i + 1);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + img.alt);
      remove.addEventListener("click", () => {
        URL.revokeObjectURL(c.url);
        chosen.splice(i, 1);
        renderPreview();
      });
      const item = document.createElement("li");
      item.append(img, remove);
      list.append(item);
    });
    say(chosen.length ? chosen.length + " of at most " + MAX + " photos chosen." : "");
  }

  function add(files) {
    $("enroll-error").hidden = true;
    let skipped = 0;
    for (const file of files) {
      if (!file) continue;
      if (file.type && !file.type.startsWith("image/")) {
        skipped++;
        continue;
      }
      if (chosen.length >= MAX) {
        fail("At most " + MAX + " photos per product; the rest were left out.");
        break;
      }
      chosen.push({ file, url: URL.createObjectURL(file) });
    }
    renderPreview();
    if (skipped) fail(skipped + " file(s) left out: not images.");
  }

  for (const id of ["enroll-files", "enroll-camera"]) {
    $(id).addEventListener("change", (e) => {
      add(Array.from(e.target.files));
      e.target.value = "";
    });
  }
  const zone = $("enroll-drop");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    add(Array.from(e.dataTransfer.files));
  });
  section.addEventListener("paste", (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.items) || [])
      .filter((i) => i.kind === "file")
      .map((i) => i.getAsFile());
    if (files.length) {
      e.preventDefault();
      add(files);
    }
  });
  $("token-forget").addEventListener("click", () => {
    keepToken("");
    $("enroll-token").focus();
  });

  $("enroll-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("enroll-error").hidden = true;
    const typed = $("enroll-token").value.trim();
    const token = typed || storedToken();
    const name = $("enroll-name").value.trim();
    if (!token) return fail("Enter the enrolment token: `sneaker-id serve` printed it when it started.");
    if (!name) return fail("Give the product a name.");
    if (!chosen.length) return fail("Choose at least one photo of the product.");
    const query = new URLSearchParams({ name });
    for (const [field, id] of [["brand", "enroll-brand"], ["colorway", "enroll-colorway"], ["style_id", "enroll-style"], ["url", "enroll-url"]]) {
      const value = $(id).value.trim();
      if (value) query.set(field, value);
    }
    const form = new FormData();
    for (const c of chosen) form.append("image", c.file, c.file.name || "photo.jpg");
    const button = $("enroll-submit");
    button.disabled = true;
    say("Adding " + name + " (" + chosen.length + " photos)…");
    let response, body;
    try {
      response = await fetch("/api/v1/gallery/products?" + query, {
        method: "POST",
        headers: { Authorization: "Bearer " + token },
        body: form,
      });
      body = await response.json().catch(() => null);
    } catch (err) {
      button.disabled = false;
      return fail("Could not reach the server: " + err.message);
    }
    button.disabled = false;
    if (response.status === 401) {
      keepToken("");
      $("enroll-token").value = "";
      return fail("Wrong enrolment token. Use the one printed by `sneaker-id serve` when it started (or open the link it printed).");
    }
    if (!response.ok) {
      return fail("The product was not added: " + (body && body.error ? body.error : "the server answered " + response.status));
    }
    if (typed) {
      keepToken(typed);
      $("enroll-token").value = "";
    }
    for (const c of chosen) URL.revokeObjectURL(c.url);
    chosen.length = 0;
    renderPreview();
    const dup = body.duplicates ? ", " + body.duplicates + " already there" : "";
    say("Added " + name + ": " + body.added + " photos" + dup + " (the gallery has " + body.gallery_size + "). Try a new photo of it above.");
    $("enroll-form").reset();
  });
})();
