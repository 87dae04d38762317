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
