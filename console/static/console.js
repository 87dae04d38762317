// The console's only script: small conveniences over pages that work without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // "Time to retain data" presets fill the retention field, as kafka-ui's buttons do.
  const retention = document.getElementById("retention_ms");
  document.querySelectorAll("button[data-retention]").forEach((b) => {
    b.addEventListener("click", () => { retention.value = b.dataset.retention; });
  });
  // Hide or show the configs that are the broker's defaults.
  const defaults = document.getElementById("show-defaults");
  const configs = document.getElementById("configs");
  if (defaults && configs) {
    defaults.addEventListener("change", () => configs.classList.toggle("hide-defaults", !defaults.checked));
  }
  document.querySelectorAll("a[data-back]").forEach((a) => {
    a.addEventListener("click", (e) => { e.preventDefault(); history.back(); });
  });
});

// Live tail on the messages page: poll /topics/NAME/tail every second and append what arrived.
// Every field goes in with textContent, so a record holding markup stays text here as well.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("tail");
  const table = document.getElementById("messages");
  const status = document.getElementById("tail-status");
  if (!button || !table) return;
  let timer = null, next = "", busy = false, seen = 0;
  const cell = (tr, text, cls) => {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  };
  const bytes = (td, b) => {
    if (b.null) {
      const i = document.createElement("i");
      i.className = "null";
      i.textContent = "null";
      td.appendChild(i);
      return;
    }
    const pre = document.createElement("pre");
    pre.className = b.as;
    pre.textContent = b.text;
    td.appendChild(pre);
    if (b.cut) {
      const note = document.createElement("span");
      note.className = "note";
      note.append("(" + b.len + " bytes, cut: ");
      const a = document.createElement("a");
      a.className = "whole";
      a.href = b.link;
      a.textContent = "see it whole";
      note.append(a, ")");
      td.appendChild(note);
    }
  };
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      const url = button.dataset.tail + (next ? "&next=" + encodeURIComponent(next) : "");
      const resp = await fetch(url, { headers: { Accept: "application/json" } });
      const a = await resp.json();
      if (a.error) {
        status.textContent = "tail: " + a.error;
      }
      if (resp.ok) next = a.next;
      const body = table.tBodies[0];
      for (const r of a.records || []) {
        if (seen === 0) body.querySelectorAll("td[colspan]").forEach((td) => td.parentNode.remove());
        seen++;
        const tr = document.createElement("tr");
        tr.className = "new";
        cell(tr, r.partition, "num");
        cell(tr, r.offset, "num");
        cell(tr, r.timestamp);
        bytes(cell(tr, "", "key"), r.key);
        bytes(cell(tr, "", "value"), r.value);
        const hd = cell(tr, "");
        for (const h of r.headers) {
          const div = document.createElement("div");
          const b = document.createElement("b");
          b.textContent = h.key;
          div.append(b, ": ");
          bytes(div, h.value);
          hd.appendChild(div);
        }
        body.appendChild(tr);
      }
      if (!a.error) status.textContent = "tailing: " + seen + " new message(s)";
    } catch (e) {
      status.textContent = "tail: " + e;
    } finally {
      busy = false;
    }
  };
  button.addEventListener("click", () => {
    if (timer) {
      clearInterval(timer);
      timer = null;
      button.textContent = "Live tail";
      status.textContent = "stopped";
      return;
    }
    button.textContent = "Stop tail";
    status.textContent = "tailing…";
    poll();
    timer = setInterval(poll, 1000);
  });
});
