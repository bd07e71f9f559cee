// The "Check providers" dialog: which providers answer right now, and how fast.
import { request } from "./api.js";
import { $ } from "./dom.js";
import { _, formatNumber } from "./i18n.js";
import { providerLabel } from "./pickers.js";

function describe(result) {
  const provider = providerLabel(result.provider);
  if (!result.ok) return _("%(provider)s: failed — %(message)s", { provider, message: result.error.message });
  return _("%(provider)s: works, first chunk after %(ms)s ms, %(rate)s chunks/s", {
    provider,
    ms: formatNumber(Math.round(result.ttft_ms ?? 0)),
    rate: formatNumber(result.chunks_per_s ?? 0, { decimal: true }),
  });
}

// The server sends a one-line prompt to every provider (POST /api/check, docs/providers.md).
export function setUpHealthCheck() {
  $("check-providers").addEventListener("click", async () => {
    const list = $("check-results");
    const status = $("check-status");
    list.replaceChildren();
    status.textContent = _("Asking every provider…");
    $("check-dialog").showModal();
    try {
      const { results } = await request("POST", "api/check", {});
      for (const result of results) {
        const item = document.createElement("li");
        item.className = result.ok ? "check-ok" : "check-failed";
        item.textContent = describe(result);
        list.append(item);
      }
      status.textContent = "";
    } catch (error) {
      status.textContent = error.message;
    }
  });
}
